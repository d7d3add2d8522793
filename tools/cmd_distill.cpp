// krrdistill distill: docs/design.md §2–§3 end to end, with the certificate; on one
// process or, built with MPI, on the processes of mpirun (distributed.hpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/stream.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

namespace {

int distill(int argc, char** argv, const Communicator& comm) {
  cxxopts::Options options("krrdistill distill",
                           "Exact one-shot distillation of KRR (Chen, Huang & Weng, NeurIPS 2024)");
  add_data_options(options);
  options.add_options("distill")("ipc",
                                 "images per class, 1..(training images of the smallest class)",
                                 cxxopts::value<unsigned>()->default_value("1"))(
      "init", "noise or real", cxxopts::value<std::string>()->default_value("real"))(
      "lambda-s", "ridge of the model refit on the distilled set",
      cxxopts::value<std::string>()->default_value("0"))(
      "out", "output folder", cxxopts::value<std::string>()->default_value("out"))(
      "force", "replace an existing output folder")(
      "allow-inexact",
      "publish even when the certificate fails (|Ws-W|/|W| above the model's tolerance or a "
      "test prediction changed); the report then says exact: false")(
      "stream",
      "read the pixels from the files chunk by chunk in every pass instead of holding them in "
      "memory (peak memory O(p^2 + chunk d); no feature cache)");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"data", "model", "distill", "run"});
    return 0;
  }

  const Clock::time_point start = Clock::now();
  const DataSource source = data_source(result);
  FeatureMapSpec spec = feature_spec(result);
  AnalyticOptions analytic;
  analytic.ipc = result["ipc"].as<unsigned>();
  analytic.init = parse_init(result["init"].as<std::string>());
  analytic.lambda_s = finite_option(result, "lambda-s");
  analytic.seed = spec.seed;
  if (analytic.lambda_s < 0) throw Error("--lambda-s must be >= 0");
  const FitOptions fit = fit_options(result, spec.seed);
  const bool stream = result.count("stream") > 0;
  const bool allow_inexact = result.count("allow-inexact") > 0;
  const bool quiet = result.count("quiet") > 0;
  // Only rank 0 talks and writes; every rank takes part in the passes.
  const Progress progress = comm.root() ? Progress::for_terminal(quiet) : Progress::silent();
  set_threads(result["threads"].as<int>());
  // Checked before any work, so a refused output folder costs nothing.
  std::optional<StagedOutputDir> out;
  if (comm.root())
    out.emplace(result["out"].as<std::string>(), result.count("force") > 0, data_inputs(source));

  // The data: one process holds it in memory as before; with --stream the
  // passes read it from the files; several processes each hold (or read)
  // only their shard of each split.
  progress.status("loading " + source.dataset);
  Dataset loaded;
  StreamDataset data;
  PixelMatrix train_shard, test_shard;
  if (comm.size == 1 && !stream) {
    loaded = load(source);
    data = view_dataset(loaded);
  } else {
    data = open_stream_dataset(source.dataset, source.dir, source.coarse);
    if (!stream) {
      const Range train_range = shard_range(data.train.size(), comm, fit.chunk);
      const Range test_range = shard_range(data.test.size(), comm, fit.chunk);
      train_shard = PixelReader(data.train).read(train_range.first, train_range.size());
      test_shard = PixelReader(data.test).read(test_range.first, test_range.size());
      data.train.memory = &train_shard;
      data.train.memory_first = train_range.first;
      data.test.memory = &test_shard;
      data.test.memory_first = test_range.first;
    }
  }
  const double t_load = seconds_since(start);

  // Everything that can be refused is refused before the long work: the
  // classes, --ipc, then the memory the run will need.
  const arma::uvec train_labels = labels_of(data.train, 0, data.train.size());
  const arma::uvec counts = checked_class_counts(train_labels, data.num_classes, data.name);
  check_ipc(analytic.ipc, counts);
  const arma::uword d = data.shape.size(), p = output_dim(spec, d);
  check_feature_sizes(spec, d);
  const std::vector<MemoryItem> need =
      analytic_memory(spec, d, data.num_classes, data.num_classes * analytic.ipc,
                      std::min<arma::uword>(fit.chunk, data.train.size()), 0.0);
  check_memory("distillation", need);
  // A nonlinear map costs a large GEMM per pass; keep this process's
  // training features for the certificate when they fit the budget and the
  // memory left (the linear map is free; without the cache they are
  // recomputed). Not when streaming: memory stays O(p² + chunk·d).
  const Range train_range = shard_range(data.train.size(), comm, fit.chunk);
  const double cache_bytes = double(p) * double(train_range.size()) * 8.0;
  const double available = available_memory_bytes();
  const bool cache = !stream && spec.kind != "linear" &&
                     cache_bytes / 1e6 <= double(result["feature-cache-mb"].as<unsigned>()) &&
                     (available <= 0 || total_bytes(need) + cache_bytes <= available);
  FeatureMap map = make_feature_map(spec, d);
  if (const std::string problem = surjectivity_problem(map); !problem.empty()) throw Error(problem);
  if (const std::string problem = rff_sigma_problem(map); !problem.empty()) throw Error(problem);
  arma::uvec start_index;
  if (analytic.init == Init::real)
    start_index = choose_real_images(train_labels, data.num_classes, analytic.ipc, analytic.seed);

  Clock::time_point phase = Clock::now();
  progress.status("preprocessing");
  Preprocessor pre = fit_preprocessor(data, source.zca, source.zca_reg_fraction, fit.chunk, comm);
  arma::mat train_features;
  const Model model = fit_model(data, std::move(pre), std::move(map), fit, comm, progress,
                                cache ? &train_features : nullptr);
  const double t_fit = seconds_since(phase);

  phase = Clock::now();
  // Real starting images: chosen from the global labels (the same for any
  // number of processes), read by the process whose shard holds each.
  const arma::mat X0 = analytic.init == Init::real
                           ? model_inputs(model.pre, data.train, start_index, train_range, comm)
                           : arma::mat();
  DistilledSet distilled;
  if (comm.root()) distilled = distill_analytic(model.map, model.W, X0, analytic);
  const double t_distill = seconds_since(phase);
  if (comm.root() && distilled.lambda_s_clamped != distilled.lambda_s_requested)
    std::fprintf(
        stderr,
        "warning: --lambda-s %.6g clamped to %.6g (lambda_s <= ipc/(4 |W|_2^2), and real sigma "
        "needs lambda_s <= 1/(4 s_max(D)^2))\n",
        distilled.lambda_s_requested, distilled.lambda_s_clamped);

  phase = Clock::now();
  const Certificate cert = certify(data, model, distilled, X0, fit.chunk, comm, progress,
                                   cache ? &train_features : nullptr);
  train_features.reset();
  const double t_certify = seconds_since(phase);
  // Every collective is behind us: rank 0 alone judges the certificate, and
  // a refusal (run_distill ends the other ranks) publishes nothing.
  if (!comm.root()) return 0;
  const std::string kind = kind_name(model.map);
  const std::string problem =
      certificate_problem(kind, cert.weight_rel_error, cert.test_disagreements, cert.n_test);
  if (!problem.empty()) {
    if (!allow_inexact) throw Error(problem + ", or pass --allow-inexact to keep it");
    std::fprintf(stderr, "warning: published with --allow-inexact: %s\n", problem.c_str());
  }

  phase = Clock::now();
  const arma::uword m = distilled.Xs.n_cols, k = data.num_classes;
  write_npy(out->path("distilled_X.npy"), image_array_shape(m, data.shape), distilled.Xs.memptr());
  write_npy(out->path("distilled_Y.npy"), {m, k}, distilled.Ys.memptr());
  // The original weights (k×p, row-major as numpy reads them), for eval's check.
  const arma::mat W_rows = model.W.t();
  write_npy(out->path("model_W.npy"), {k, model.W.n_cols}, W_rows.memptr());
  std::vector<GridBlock> blocks{
      class_rows(to_pixel_space(model.pre, distilled.Xs), data.class_names, analytic.ipc)};
  if (analytic.init == Init::real) {
    blocks[0].title = "distilled";
    blocks.push_back(class_rows(to_pixel_space(model.pre, X0), data.class_names, analytic.ipc));
    blocks[1].title = "start images";
  }
  write_image_grid(out->path("grid.png"), blocks, data.shape, default_upscale(data.shape));
  const double t_write = seconds_since(phase);

  // The dataset's description without its pixels (they may never have been loaded whole).
  Dataset described;
  described.name = data.name;
  described.shape = data.shape;
  described.num_classes = data.num_classes;
  described.class_names = data.class_names;
  nlohmann::json report = {
      {"command", "distill"},
      {"dataset", dataset_json(described, source, model.pre)},
      {"model", model_json(model, spec)},
      {"distilled", distilled_json(distilled, analytic)},
      {"certificate", certificate_json(cert, kind)},
  };
  report["dataset"]["n_train"] = data.train.size();
  report["dataset"]["n_test"] = data.test.size();
  report["distilled"]["allow_inexact"] = allow_inexact;
  report["distilled"]["files"]["model_W"] = "model_W.npy";
  report["run"] = {
      {"processes", comm.size}, {"stream", stream}, {"feature_cache", cache}, {"chunk", fit.chunk}};
  if (analytic.init == Init::real)
    report["distilled"]["start_train_index"] =
        arma::conv_to<std::vector<arma::uword>>::from(start_index);
  report["timings_s"] = {{"load", t_load},       {"fit", t_fit},
                         {"distill", t_distill}, {"certify", t_certify},
                         {"write", t_write},     {"total", seconds_since(start)}};
  report["output"] = out->manifest("report.json");
  write_json_file(out->path("report.json"), report);
  out->commit();
  progress.finish();

  if (!quiet) {
    std::printf(
        "distilled %s (%llu train images, %s model, lambda %.3g) to %llu images (ipc %u, %s init) "
        "in %.2f s\n",
        data.name.c_str(), (unsigned long long)data.train.size(), kind_name(model.map).c_str(),
        model.lambda, (unsigned long long)m, unsigned(analytic.ipc),
        init_name(analytic.init).c_str(), seconds_since(start));
    std::printf(
        "certificate: |Ws-W|/|W| = %.3g, test accuracy original %.4f, distilled %.4f, agreement "
        "%.4f\n",
        cert.weight_rel_error, cert.original.test, cert.distilled.test, cert.test_agreement);
    std::printf(
        "outputs: %s/{distilled_X.npy, distilled_Y.npy, model_W.npy, grid.png, report.json}\n",
        out->final_dir().c_str());
  }
  return 0;
}

}  // namespace

// With several processes (mpirun) a failure on one rank ends them all, with
// its message: the others would otherwise wait in a collective for ever.
int run_distill(int argc, char** argv) {
  MpiSession mpi;
  const Communicator comm = mpi.world();
  if (comm.size == 1) return distill(argc, argv, comm);
  try {
    return distill(argc, argv, comm);
  } catch (const std::bad_alloc&) {
    abort_all(comm, "out of memory");
  } catch (const std::exception& e) {
    abort_all(comm, error_text(e));
  }
}

}  // namespace krrdistill::cli
