// A written distilled set checked on its own (what 'krrdistill eval' runs).
// A set of distill: refit KRR on distilled_X.npy/distilled_Y.npy at the
// report's λs and compare the refit with the original model the report
// describes: its weights (model_W.npy, tolerance of the model kind), every
// test prediction (against the digest the certificate recorded) and the test
// accuracy; with refit_original also the original model recomputed from the
// dataset. A set of kip or labelsolve: every test prediction and the
// accuracy of the KRR fit on the support.
#pragma once

#include <armadillo>
#include <nlohmann/json.hpp>
#include <string>

#include "krrdistill/data.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/report.hpp"

namespace krrdistill {

struct SetCheck {
  nlohmann::json result;  // the checks, each with its value, reference and pass
  std::string failure;    // empty when every check passed, else what failed
};

// A written set read back as eval reads it: its report (checked), the
// dataset the report names (checked against it), the preprocessing the
// command that wrote the set fitted (distill: the streamed fit with its
// chunk; kip, labelsolve: the in-memory fit), and Xs (d×m, model input
// space) and Ys (k×m). Throws Error naming the file at fault.
struct WrittenSet {
  EvalReport report;
  Dataset data;
  Preprocessor pre;
  arma::mat Xs, Ys;
};
WrittenSet read_written_set(const std::string& dir);
// The same in two steps, so that a caller can check its memory between
// them: the report, data and preprocessing; then Xs and Ys.
WrittenSet read_set_data(const std::string& dir);
void read_set_arrays(const std::string& dir, WrittenSet& set);

// Throws Error for a folder that cannot be checked (bad report or files,
// data not matching); a check that fails is reported in failure instead.
SetCheck check_distilled_set(const std::string& dir, bool refit_original);

}  // namespace krrdistill
