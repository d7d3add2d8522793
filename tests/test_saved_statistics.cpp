// Statistics files (saved_statistics.hpp, docs/design.md §9): what is written
// is read back bit for bit, any damage is refused, merged statistics equal
// those of the concatenated data (to the bit for the exact pixel moments
// and for compensated sums over the same chunks, otherwise to the float
// rounding of docs/design.md §12), and the sweep on validation statistics
// scores what the features would.
#define BOOST_TEST_MODULE saved_statistics
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/pipeline.hpp"
#include "krrdistill/saved_statistics.hpp"
#include "krrdistill/statistics_file.hpp"

using namespace krrdistill;
using namespace fixtures;

namespace {

struct Case {
  TempDir scratch{"saved_statistics"};
  std::string dir = scratch.file("data");
  Dataset data;
  Case() {
    write_idx_folder(dir, 300, 60, 8, 4);
    data = load_dataset("idx", dir, false);
  }

  // The training samples [first, last) with the whole test split.
  Dataset part(arma::uword first, arma::uword last) const {
    return make_dataset(data.train.pixels.cols(first, last - 1),
                        data.train.labels.subvec(first, last - 1), data.test.pixels,
                        data.test.labels, data.shape, data.num_classes, "idx");
  }

  static StatisticsConfig config(const std::string& kind, bool zca = false) {
    StatisticsConfig c;
    c.source.dataset = "idx";
    c.spec.kind = kind;
    c.spec.seed = 7;
    c.source.zca = zca;
    c.fit.chunk = 64;
    c.fit.seed = 7;
    return c;
  }

  // Each call as from a folder of its own (a folder's statistics merged
  // twice are refused).
  static SavedStatistics stats_of(const Dataset& d, StatisticsConfig c,
                                  const SavedStatistics* fixed = nullptr) {
    static int folder = 0;
    c.source.dir = "/part" + std::to_string(folder++);
    return compute_statistics(view_dataset(d), c, fixed, Communicator{}, Progress::silent());
  }
};

FitOptions fixed_lambda(double lambda, arma::uword chunk = 64) {
  FitOptions fit;
  fit.lambda = lambda;
  fit.chunk = chunk;
  fit.seed = 7;
  return fit;
}

bool same_bits(const arma::mat& a, const arma::mat& b) {
  return a.n_rows == b.n_rows && a.n_cols == b.n_cols &&
         std::memcmp(a.memptr(), b.memptr(), a.n_elem * sizeof(double)) == 0;
}

double rel(const arma::mat& a, const arma::mat& b) {
  return arma::norm(a - b, "fro") / arma::norm(b, "fro");
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_is_bit_exact) {
  Case c;
  for (const auto& [kind, zca] : {std::pair{"linear", false}, std::pair{"linear", true},
                                  std::pair{"rff", false}, std::pair{"fcnn", true}}) {
    BOOST_TEST_CONTEXT(kind << (zca ? " zca" : "")) {
      const SavedStatistics s = Case::stats_of(c.data, Case::config(kind, zca));
      const std::string path = c.scratch.file(std::string(kind) + (zca ? "_zca" : "") + ".stats");
      write_statistics(path, s, false);
      const SavedStatistics r = read_statistics(path);
      BOOST_TEST(r.sums.n == 300u);
      BOOST_TEST(r.sums.n_validation == s.sums.n_validation);
      BOOST_TEST(arma::all(r.class_counts == s.class_counts));
      BOOST_TEST(r.description.class_names == s.description.class_names);
      BOOST_TEST(r.spec.kind == s.spec.kind);
      // The same model, to the bit, from the file as from memory.
      const Model from_file = fit_statistics(r, fixed_lambda(0.5));
      const Model from_memory = fit_statistics(s, fixed_lambda(0.5));
      BOOST_TEST(same_bits(from_file.W, from_memory.W));
      BOOST_TEST(same_bits(from_file.pre.channel_std, from_memory.pre.channel_std));
    }
  }
}

BOOST_AUTO_TEST_CASE(damage_is_refused) {
  Case c;
  const std::string path = c.scratch.file("good.stats");
  write_statistics(path, Case::stats_of(c.data, Case::config("rff")), false);
  const Bytes good = read_bytes(path);
  const std::string bad = c.scratch.file("bad.stats");
  // One flipped bit anywhere: in the magic, version, header length, header,
  // arrays or checksum.
  for (const std::size_t at :
       {std::size_t(0), std::size_t(16), std::size_t(20), std::size_t(40), std::size_t(200),
        good.size() / 2, good.size() - 20, good.size() - 1}) {
    Bytes damaged = good;
    damaged[at] ^= 0x10;
    write_bytes(bad, damaged);
    BOOST_TEST_CONTEXT("byte " << at) {
      BOOST_CHECK_THROW(read_statistics(bad), Error);
    }
  }
  for (const std::size_t size :
       {std::size_t(0), std::size_t(10), std::size_t(100), good.size() - 8, good.size() - 1}) {
    write_bytes(bad, Bytes(good.begin(), good.begin() + std::ptrdiff_t(size)));
    BOOST_TEST_CONTEXT("truncated to " << size) {
      BOOST_CHECK_THROW(read_statistics(bad), Error);
    }
  }
  Bytes longer = good;
  longer.push_back(0);
  write_bytes(bad, longer);
  BOOST_TEST(contains(error_of([&] { read_statistics(bad); }), "implies"));
  Bytes flipped = good;
  flipped[good.size() / 2] ^= 1;
  write_bytes(bad, flipped);
  BOOST_TEST(contains(error_of([&] { read_statistics(bad); }), "checksum"));
}

// A file with a correct checksum whose sums no images can have (written by
// another program, or edited): refused before any fit.
BOOST_AUTO_TEST_CASE(impossible_sums_are_refused) {
  Case c;
  const SavedStatistics good = Case::stats_of(c.data, Case::config("linear"));
  const std::string path = c.scratch.file("forged.stats");
  const auto refused = [&](const SavedStatistics& s, const std::string& part) {
    write_statistics(path, s, true);
    return contains(error_of([&] { read_statistics(path); }), part);
  };
  SavedStatistics s = good;
  s.sums.moments.gram(3, 3) = 0;  // Σ q² = 0 with Σ q > 0: a negative variance
  BOOST_TEST(refused(s, "no images can have"));
  s = good;
  s.sums.moments.gram(5, 2) = 1e12;
  BOOST_TEST(refused(s, "pixel products"));
  s = good;
  s.sums.moments.class_sums(0, 1) += 0.5;
  BOOST_TEST(refused(s, "whole numbers"));
  s = good;
  s.sums.validation_moments.class_sums(7, 0) = s.sums.moments.class_sums(7, 0) + 1;
  BOOST_TEST(refused(s, "255"));
  s = good;
  s.sums.validation_moments.class_counts[2] += 1;
  BOOST_TEST(refused(s, "n_validation"));
  const SavedStatistics fcnn = Case::stats_of(c.data, Case::config("fcnn"));
  s = fcnn;
  s.pre.channel_std[0] = 0;
  BOOST_TEST(refused(s, "std"));
  s = fcnn;
  s.sums.G.pairs(0, 5) = arma::datum::nan;
  BOOST_TEST(refused(s, "not finite"));
  write_statistics(path, good, true);
  BOOST_CHECK_NO_THROW(read_statistics(path));
}

BOOST_AUTO_TEST_CASE(write_replaces_only_its_own_files) {
  Case c;
  const SavedStatistics s = Case::stats_of(c.data, Case::config("linear"));
  const std::string other = c.scratch.file("notes.txt");
  write_text(other, "a user's file");
  BOOST_TEST(contains(error_of([&] { write_statistics(other, s, false); }), "exists"));
  BOOST_TEST(contains(error_of([&] { write_statistics(other, s, true); }), "not a statistics"));
  BOOST_TEST(read_text(other) == "a user's file");
  BOOST_TEST(contains(error_of([&] { write_statistics(c.dir, s, true); }), "not a regular file"));
  const std::string path = c.scratch.file("s.stats");
  write_statistics(path, s, false);
  BOOST_TEST(contains(error_of([&] { write_statistics(path, s, false); }), "--force"));
  BOOST_CHECK_NO_THROW(write_statistics(path, s, true));
  BOOST_CHECK_NO_THROW(read_statistics(path));
}

// A linear map's statistics are exact integer moments: merged, they are the
// concatenated data's, and so are the preprocessing, G, B and W, to the bit.
BOOST_AUTO_TEST_CASE(linear_merge_equals_concatenation_bit_for_bit) {
  Case c;
  for (const bool zca : {false, true}) {
    BOOST_TEST_CONTEXT((zca ? "zca" : "standardised")) {
      const StatisticsConfig config = Case::config("linear", zca);
      const SavedStatistics a = Case::stats_of(c.part(0, 137), config);
      const SavedStatistics b = Case::stats_of(c.part(137, 300), config);
      const SavedStatistics merged = merge_statistics({a, b}, {"a", "b"});
      BOOST_TEST(merged.sums.n == 300u);
      const Model from_stats = fit_statistics(merged, fixed_lambda(0.5));
      const Model direct = fit_linear_model(view_dataset(c.data), zca, 0.1, fixed_lambda(0.5),
                                            Communicator{}, Progress::silent());
      BOOST_TEST(same_bits(from_stats.W, direct.W));
      BOOST_TEST(same_bits(from_stats.pre.channel_mean, direct.pre.channel_mean));
      if (zca) BOOST_TEST(same_bits(from_stats.pre.zca_whiten, direct.pre.zca_whiten));
    }
  }
  // Beyond the samples whose moments stay exact in double, the merge refuses.
  const StatisticsConfig config = Case::config("linear", false);
  SavedStatistics a = Case::stats_of(c.part(0, 137), config);
  const SavedStatistics b = Case::stats_of(c.part(137, 300), config);
  a.sums.n = arma::uword(kMaxMomentSamples) - 100;
  BOOST_TEST(contains(error_of([&] {
                        merge_statistics({a, b}, {"a", "b"});
                      }),
                      "more samples than exact pixel moments allow"));
}

// A nonlinear map's G and B are compensated sums under one fixed
// preprocessing: the merge equals the concatenated data's to the bit when
// the parts hold the same chunks. When a chunk is split, its float partial
// Gram sums (docs/design.md §12) are split too: W moves by their rounding,
// enlarged by this small G's conditioning.
BOOST_AUTO_TEST_CASE(nonlinear_merge_equals_concatenation) {
  Case c;
  for (const char* kind : {"rff", "fcnn"}) {
    for (const arma::uword cut : {arma::uword(128), arma::uword(150)}) {
      BOOST_TEST_CONTEXT(kind << ", first part of " << cut) {
        const StatisticsConfig config = Case::config(kind);
        const SavedStatistics a = Case::stats_of(c.part(0, cut), config);
        const SavedStatistics b = Case::stats_of(c.part(cut, 300), config, &a);
        const Model from_stats =
            fit_statistics(merge_statistics({a, b}, {"a", "b"}), fixed_lambda(0.5));
        const Model direct =
            fit_model(view_dataset(c.data), a.pre, make_feature_map(a.spec, c.data.shape.size()),
                      fixed_lambda(0.5), Communicator{}, Progress::silent());
        BOOST_TEST(rel(from_stats.W, direct.W) <= 1e-4);
        if (cut % 64 == 0) BOOST_TEST(same_bits(from_stats.W, direct.W));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(incompatible_statistics_are_refused) {
  Case c;
  const StatisticsConfig rff = Case::config("rff");
  const SavedStatistics a = Case::stats_of(c.part(0, 150), rff);
  // Its own preprocessing: the features are of another map of the pixels.
  const SavedStatistics own = Case::stats_of(c.part(150, 300), rff);
  BOOST_TEST(contains(error_of([&] {
                        merge_statistics({a, own}, {"a", "b"});
                      }),
                      "--preprocessing"));
  StatisticsConfig other_seed = rff;
  other_seed.spec.seed = 8;
  const SavedStatistics seeded = Case::stats_of(c.part(150, 300), other_seed, &a);
  BOOST_TEST(contains(error_of([&] { merge_statistics({a, seeded}, {"a", "b"}); }), "seed"));
  const SavedStatistics linear = Case::stats_of(c.part(150, 300), Case::config("linear"));
  // The same data twice would count twice, whatever its folder is called
  // (each stats_of call names another folder); other data of the same size
  // under the same name is new data.
  BOOST_TEST(contains(error_of([&] { merge_statistics({a, a}, {"a", "a"}); }), "twice"));
  const SavedStatistics again = Case::stats_of(c.part(0, 150), rff, &a);
  BOOST_TEST(contains(error_of([&] { merge_statistics({a, again}, {"a", "b"}); }), "twice"));
  SavedStatistics renamed = Case::stats_of(c.part(150, 300), rff, &a);
  renamed.parts[0].dir = a.parts[0].dir;
  BOOST_CHECK_NO_THROW(merge_statistics({a, renamed}, {"a", "b"}));
  BOOST_TEST(contains(error_of([&] { merge_statistics({a, linear}, {"a", "b"}); }), "feature map"));
  BOOST_TEST(contains(error_of([&] { Case::stats_of(c.data, Case::config("linear"), &a); }),
                      "nonlinear maps"));
  StatisticsConfig zca = rff;
  zca.source.zca = true;
  BOOST_TEST(contains(error_of([&] { Case::stats_of(c.data, zca, &a); }), "--zca"));
}

// Data that arrives later may lack a class: its statistics are kept, and
// only a merge without that class is refused.
BOOST_AUTO_TEST_CASE(a_part_may_lack_a_class) {
  Case c;
  const arma::uvec no_class_1 = arma::find(c.data.train.labels != 1);
  const arma::uvec only_class_1 = arma::find(c.data.train.labels == 1);
  const auto subset = [&](const arma::uvec& columns) {
    return make_dataset(c.data.train.pixels.cols(columns), c.data.train.labels.elem(columns),
                        c.data.test.pixels, c.data.test.labels, c.data.shape, 4, "idx");
  };
  const SavedStatistics without = Case::stats_of(subset(no_class_1), Case::config("linear"));
  BOOST_TEST(without.class_counts[1] == 0u);
  const SavedStatistics with = Case::stats_of(subset(only_class_1), Case::config("linear"));
  const std::string a = c.scratch.file("without.stats"), b = c.scratch.file("with.stats");
  write_statistics(a, without, true);
  write_statistics(b, with, true);
  DistillConfig run;
  run.fit = fixed_lambda(0.5);
  run.analytic.init = Init::noise;
  BOOST_TEST(
      contains(error_of([&] { distill_statistics({a}, run, nullptr); }), "no training sample"));
  const DistillResult merged = distill_statistics({a, b}, run, nullptr);
  BOOST_TEST(merged.n_train == 300u);
  BOOST_TEST(merged.certificate.weight_rel_error <= certificate_tolerance("linear"));
}

// ‖W Φ − Y‖² from the validation statistics alone equals the squared error
// of the validation features, for every λ of the grid.
BOOST_AUTO_TEST_CASE(sweep_on_statistics_scores_the_features) {
  arma::arma_rng::set_seed(3);
  const arma::mat Phi = arma::randn(12, 200), Phi_val = arma::randn(12, 40);
  const arma::uvec labels = arma::randi<arma::uvec>(200, arma::distr_param(0, 2));
  const arma::uvec val_labels = arma::randi<arma::uvec>(40, arma::distr_param(0, 2));
  Statistics train = zero_statistics(12, 3), val = zero_statistics(12, 3);
  accumulate(train, Phi, labels);
  accumulate(val, Phi_val, val_labels);
  val.count = 40;
  const std::vector<double> grid = {1e-3, 1e-1, 1.0, 10.0, 1e3};
  const LambdaSweep sweep = sweep_on_statistics(train, val, grid);
  const arma::mat Y_val = one_hot(val_labels, 3);
  std::size_t best = 0;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const arma::mat W = fit_primal(train, grid[i]);
    const double direct = arma::accu(arma::square(W * Phi_val - Y_val));
    BOOST_TEST(std::abs(sweep.val_sq_error[i] - direct) <= 1e-9 * direct);
    BOOST_TEST(std::isnan(sweep.val_accuracy[i]));
    if (sweep.val_sq_error[i] < sweep.val_sq_error[best]) best = i;
  }
  BOOST_TEST(sweep.best_lambda == grid[best]);
}

// distill --stats on two files gives the concatenated data's distilled set
// (noise start, fixed λ): to the bit for a linear map; its certificate holds,
// and with the test split, both models' predictions are checked.
BOOST_AUTO_TEST_CASE(distill_from_files_matches_the_data) {
  Case c;
  for (const char* kind : {"linear", "fcnn"}) {
    BOOST_TEST_CONTEXT(kind) {
      const StatisticsConfig config = Case::config(kind);
      const bool linear = std::string(kind) == "linear";
      const SavedStatistics a = Case::stats_of(c.part(0, 128), config);
      const SavedStatistics b = Case::stats_of(c.part(128, 300), config, linear ? nullptr : &a);
      const std::string fa = c.scratch.file(std::string(kind) + "_a.stats");
      const std::string fb = c.scratch.file(std::string(kind) + "_b.stats");
      write_statistics(fa, a, true);
      write_statistics(fb, b, true);
      DistillConfig run;
      run.spec = a.spec;
      run.fit = fixed_lambda(0.5);
      run.analytic.ipc = 2;
      run.analytic.init = Init::noise;
      run.analytic.seed = 7;
      const StreamDataset test = view_dataset(c.data);
      const DistillResult from_files = distill_statistics({fa, fb}, run, &test);
      BOOST_TEST(from_files.certificate.n_test == 60u);
      BOOST_TEST(from_files.certificate.test_disagreements == 0u);
      BOOST_TEST(from_files.certificate.weight_rel_error <= certificate_tolerance(kind));
      BOOST_TEST(std::isnan(from_files.certificate.original.train));
      BOOST_TEST(from_files.n_train == 300u);
      if (linear) {
        const DistillResult direct = distill_dataset(c.data, run);
        BOOST_TEST(same_bits(from_files.distilled.Xs, direct.distilled.Xs));
        BOOST_TEST(same_bits(from_files.model.W, direct.model.W));
      }
      // Without a λ, the sweep on the merged validation statistics.
      run.fit.lambda = std::numeric_limits<double>::quiet_NaN();
      const DistillResult swept = distill_statistics({fa, fb}, run, nullptr);
      BOOST_TEST(swept.model.sweep.lambdas.size() == run.fit.lambda_grid.size());
      BOOST_TEST(swept.model.n_validation == a.sums.n_validation + b.sums.n_validation);
      BOOST_TEST(swept.certificate.n_test == 0u);
      run.analytic.init = Init::real;
      BOOST_TEST(contains(error_of([&] {
                            distill_statistics({fa, fb}, run, nullptr);
                          }),
                          "--init noise"));
    }
  }
}
