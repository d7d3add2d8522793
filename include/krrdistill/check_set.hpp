// A written distilled set checked on its own (what 'krrdistill eval' runs).
// A set of distill: refit KRR on distilled_X.npy/distilled_Y.npy at the
// report's λs and compare the refit with the original model the report
// describes: its weights (model_W.npy, tolerance of the model kind), every
// test prediction (against the digest the certificate recorded) and the test
// accuracy; with refit_original also the original model recomputed from the
// dataset. A set of kip or labelsolve: every test prediction and the
// accuracy of the KRR fit on the support.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace krrdistill {

struct SetCheck {
  nlohmann::json result;  // the checks, each with its value, reference and pass
  std::string failure;    // empty when every check passed, else what failed
};

// Throws Error for a folder that cannot be checked (bad report or files,
// data not matching); a check that fails is reported in failure instead.
SetCheck check_distilled_set(const std::string& dir, bool refit_original);

}  // namespace krrdistill
