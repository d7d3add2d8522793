// The krrdistill command line: load -> preprocess -> features -> statistics
// -> fit -> distill -> invert -> certify -> write (DESIGN §5).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/image_grid.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

const char* kUsage =
    "usage: krrdistill <command> [options]\n"
    "\n"
    "commands:\n"
    "  distill   exact analytic distillation of a KRR model, with a certificate\n"
    "  eval      refit KRR on a distilled set and print its test accuracy\n"
    "\n"
    "Run 'krrdistill <command> --help' for the options of a command.\n";

// Options shared by every command that loads data and builds a model.
void add_data_options(cxxopts::Options& options) {
  options.add_options("data")
      ("dataset", "fashion-mnist, mnist, idx, cifar10, cifar100, npy (default fashion-mnist, or auto with --data)",
       cxxopts::value<std::string>())
      ("data", "folder holding the dataset files", cxxopts::value<std::string>())
      ("coarse", "CIFAR-100: the 20 coarse classes instead of the 100 fine ones")
      ("zca", "ZCA whitening after standardisation")
      ("zca-reg", "ZCA regulariser as a fraction of the mean eigenvalue",
       cxxopts::value<std::string>()->default_value("0.1"));
  options.add_options("model")
      ("model", "linear, rff or fcnn", cxxopts::value<std::string>()->default_value("linear"))
      ("features", "rff: number of random features p (default d)",
       cxxopts::value<unsigned>()->default_value("0"))
      ("rff-sigma", "rff: bandwidth sigma (default sqrt(d))",
       cxxopts::value<std::string>()->default_value("0"))
      ("layers", "fcnn: hidden layers L", cxxopts::value<unsigned>()->default_value("1"))
      ("width", "fcnn: width of the hidden layers (default d)",
       cxxopts::value<unsigned>()->default_value("0"))
      ("slope", "fcnn: leaky ReLU slope", cxxopts::value<std::string>()->default_value("0.1"))
      ("lambda", "ridge of the original model (default: validation sweep 1e-6 .. 10^5.5)",
       cxxopts::value<std::string>());
  options.add_options("run")
      ("seed", "seed of every random choice", cxxopts::value<std::uint64_t>()->default_value("0"))
      ("threads", "threads of the linear algebra (default: one per core)",
       cxxopts::value<int>()->default_value("0"))
      ("chunk", "images per chunk when streaming the data",
       cxxopts::value<unsigned>()->default_value(std::to_string(kDefaultChunk)))
      ("feature-cache-mb", "keep nonlinear training features in memory up to this size for the "
       "certificate (0: recompute them)", cxxopts::value<unsigned>()->default_value("2048"))
      ("quiet", "no progress on stderr")
      ("h,help", "this help");
}

cxxopts::ParseResult parse(cxxopts::Options& options, int argc, char** argv) {
  cxxopts::ParseResult result = options.parse(argc, argv);
  if (!result.unmatched().empty())
    throw Error("unexpected argument '" + result.unmatched().front() + "'");
  return result;
}

// Real-valued options are parsed here rather than by cxxopts, so that a bad
// value is reported with the option's name.
double finite_option(const cxxopts::ParseResult& result, const std::string& name) {
  const std::string text = result[name].as<std::string>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value))
    throw Error("--" + name + " must be a finite number, got '" + text + "'");
  return value;
}

DataSource data_source(const cxxopts::ParseResult& result) {
  DataSource source;
  source.dir = result.count("data") ? result["data"].as<std::string>() : "";
  source.dataset = result.count("dataset") ? result["dataset"].as<std::string>()
                                           : (source.dir.empty() ? "fashion-mnist" : "auto");
  source.coarse = result.count("coarse") > 0;
  source.zca = result.count("zca") > 0;
  source.zca_reg_fraction = finite_option(result, "zca-reg");
  if (!(source.zca_reg_fraction > 0)) throw Error("--zca-reg must be positive");
  return source;
}

FeatureMapSpec feature_spec(const cxxopts::ParseResult& result) {
  FeatureMapSpec spec;
  spec.kind = result["model"].as<std::string>();
  spec.features = result["features"].as<unsigned>();
  spec.rff_sigma = finite_option(result, "rff-sigma");
  if (spec.rff_sigma < 0) throw Error("--rff-sigma must be positive");
  spec.layers = result["layers"].as<unsigned>();
  spec.width = result["width"].as<unsigned>();
  spec.slope = finite_option(result, "slope");
  spec.seed = result["seed"].as<std::uint64_t>();
  return spec;
}

Dataset load(const DataSource& source) {
  return load_dataset(source.dataset, source.dir, source.coarse);
}

// Images of a set in grid order: one row per class, ipc columns, from the
// distilled column order (column j of class j mod k).
GridBlock class_rows(const arma::mat& pixels, arma::uword k, arma::uword ipc) {
  GridBlock block{arma::mat(pixels.n_rows, k * ipc), k, ipc};
  for (arma::uword c = 0; c < k; ++c)
    for (arma::uword i = 0; i < ipc; ++i) block.images.col(c * ipc + i) = pixels.col(i * k + c);
  return block;
}

std::vector<std::uint64_t> image_array_shape(arma::uword count, const ImageShape& shape) {
  return {count, shape.channels, shape.height, shape.width};
}

int run_distill(int argc, char** argv) {
  cxxopts::Options options("krrdistill distill",
                           "Exact one-shot distillation of KRR (Chen, Huang & Weng, NeurIPS 2024)");
  add_data_options(options);
  options.add_options("distill")
      ("ipc", "images per class", cxxopts::value<unsigned>()->default_value("1"))
      ("init", "noise or real", cxxopts::value<std::string>()->default_value("real"))
      ("lambda-s", "ridge of the model refit on the distilled set",
       cxxopts::value<std::string>()->default_value("0"))
      ("out", "output folder", cxxopts::value<std::string>()->default_value("out"))
      ("force", "replace an existing output folder");
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
  if (analytic.ipc == 0) throw Error("--ipc must be at least 1");
  if (analytic.lambda_s < 0) throw Error("--lambda-s must be >= 0");
  FitOptions fit;
  fit.seed = spec.seed;
  fit.chunk = result["chunk"].as<unsigned>();
  if (fit.chunk == 0) throw Error("--chunk must be at least 1");
  if (result.count("lambda")) {
    fit.lambda = finite_option(result, "lambda");
    if (fit.lambda < 0) throw Error("--lambda must be >= 0");
  }
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  // Checked before any work, so a refused output folder costs nothing.
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0);

  progress.status("loading " + source.dataset);
  const Dataset data = load(source);
  const double t_load = seconds_since(start);

  // Everything that can be refused is refused before the long work.
  FeatureMap map = make_feature_map(spec, data.shape.size());
  if (const std::string problem = surjectivity_problem(map); !problem.empty()) throw Error(problem);
  arma::uvec start_index;
  if (analytic.init == Init::real)
    start_index = choose_real_images(data.train.labels, data.num_classes, analytic.ipc, analytic.seed);

  Clock::time_point phase = Clock::now();
  progress.status("preprocessing");
  Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, source.zca,
                                      source.zca_reg_fraction);
  // A nonlinear map costs a large GEMM per pass; keep its training features
  // for the certificate when they fit the budget (the linear map is free).
  const double cache_mb = double(feature_dim(map)) * double(data.train.pixels.n_cols) * 8.0 / 1e6;
  const bool cache = !std::holds_alternative<LinearMap>(map) &&
                     cache_mb <= double(result["feature-cache-mb"].as<unsigned>());
  arma::mat train_features;
  const Model model = fit_model(data, std::move(pre), std::move(map), fit, progress,
                                cache ? &train_features : nullptr);
  const double t_fit = seconds_since(phase);

  phase = Clock::now();
  const arma::mat X0 = analytic.init == Init::real
                           ? to_model_input(model.pre, data.train.pixels, start_index)
                           : arma::mat();
  const DistilledSet distilled = distill_analytic(model.map, model.W, X0, analytic);
  const double t_distill = seconds_since(phase);
  if (distilled.lambda_s_clamped != distilled.lambda_s_requested)
    std::fprintf(stderr, "warning: --lambda-s %.6g clamped to %.6g (real sigma needs lambda_s <= 1/(4 s_max^2))\n",
                 distilled.lambda_s_requested, distilled.lambda_s_clamped);

  phase = Clock::now();
  const Certificate cert = certify(data, model, distilled, X0, fit.chunk, progress,
                                   cache ? &train_features : nullptr);
  train_features.reset();
  const double t_certify = seconds_since(phase);

  phase = Clock::now();
  const arma::uword m = distilled.Xs.n_cols, k = data.num_classes;
  write_npy(out.path("distilled_X.npy"), image_array_shape(m, data.shape), distilled.Xs.memptr());
  write_npy(out.path("distilled_Y.npy"), {m, k}, distilled.Ys.memptr());
  std::vector<GridBlock> blocks{class_rows(to_pixel_space(model.pre, distilled.Xs), k, analytic.ipc)};
  if (analytic.init == Init::real)
    blocks.push_back(class_rows(to_pixel_space(model.pre, X0), k, analytic.ipc));
  write_image_grid(out.path("grid.png"), blocks, data.shape, default_upscale(data.shape));
  const double t_write = seconds_since(phase);

  nlohmann::json report = {
      {"command", "distill"},
      {"dataset", dataset_json(data, source, model.pre)},
      {"model", model_json(model, spec)},
      {"distilled", distilled_json(distilled, analytic)},
      {"certificate", certificate_json(cert)},
  };
  if (analytic.init == Init::real)
    report["distilled"]["start_train_index"] = arma::conv_to<std::vector<arma::uword>>::from(start_index);
  report["timings_s"] = {{"load", t_load},         {"fit", t_fit},     {"distill", t_distill},
                         {"certify", t_certify},   {"write", t_write}, {"total", seconds_since(start)}};
  write_json_file(out.path("report.json"), report);
  out.commit();
  progress.finish();

  if (!quiet) {
    std::printf("distilled %s (%llu train images, %s model, lambda %.3g) to %llu images (ipc %u, %s init) in %.2f s\n",
                data.name.c_str(), (unsigned long long)data.train.pixels.n_cols,
                kind_name(model.map).c_str(), model.lambda, (unsigned long long)m,
                unsigned(analytic.ipc), init_name(analytic.init).c_str(), seconds_since(start));
    std::printf("certificate: |Ws-W|/|W| = %.3g, test accuracy original %.4f, distilled %.4f, agreement %.4f\n",
                cert.weight_rel_error, cert.original.test, cert.distilled.test, cert.test_agreement);
    std::printf("outputs: %s/{distilled_X.npy, distilled_Y.npy, grid.png, report.json}\n",
                out.final_dir().c_str());
  }
  return 0;
}

// Reads a float64 .npy written by distill as a column-major matrix with one
// record (outermost index) per column.
arma::mat read_records(const std::string& path, arma::uword record_size) {
  const NpyArray array = read_npy(path);
  if (array.shape.empty()) throw Error(path + ": expected an array of records, got a scalar");
  const arma::uword records = array.shape.front();
  if (records * record_size != array.count())
    throw Error(path + ": expected records of " + std::to_string(record_size) + " values");
  const std::vector<double> values = npy_as_double(array, path);
  arma::mat out(record_size, records);
  std::copy(values.begin(), values.end(), out.begin());
  if (!out.is_finite()) throw Error(path + ": holds NaN or Inf");
  return out;
}

int run_eval(int argc, char** argv) {
  cxxopts::Options options("krrdistill eval",
                           "Refit KRR on a distilled set (distilled_X.npy, distilled_Y.npy) and "
                           "print its test accuracy as JSON");
  options.add_options()
      ("distilled", "folder written by 'krrdistill distill'", cxxopts::value<std::string>())
      ("threads", "threads of the linear algebra", cxxopts::value<int>()->default_value("0"))
      ("h,help", "this help");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help();
    return 0;
  }
  if (!result.count("distilled")) throw Error("eval needs --distilled DIR");
  set_threads(result["threads"].as<int>());
  const std::string dir = result["distilled"].as<std::string>();
  const nlohmann::json report = read_json_file(dir + "/report.json");
  const DataSource source = data_source_from_json(report);
  const FeatureMapSpec spec = feature_spec_from_json(report);
  double lambda_s = 0;
  try {
    lambda_s = report.at("distilled").at("lambda_s").get<double>();
  } catch (const nlohmann::json::exception&) {
    throw Error(dir + "/report.json: missing or invalid distilled.lambda_s");
  }
  if (!(lambda_s >= 0) || !std::isfinite(lambda_s))
    throw Error(dir + "/report.json: distilled.lambda_s must be finite and >= 0");

  const Dataset data = load(source);
  const Preprocessor pre =
      fit_preprocessor(data.train.pixels, data.shape, source.zca, source.zca_reg_fraction);
  const FeatureMap map = make_feature_map(spec, data.shape.size());
  const arma::mat Xs = read_records(dir + "/distilled_X.npy", data.shape.size());
  const arma::mat Ys = read_records(dir + "/distilled_Y.npy", data.num_classes).eval();
  if (Xs.n_cols != Ys.n_cols)
    throw Error(dir + ": distilled_X.npy and distilled_Y.npy hold different numbers of images");
  const arma::mat Ws = refit_distilled(map, Xs, Ys, lambda_s);
  const double acc = test_accuracy(data, pre, map, Ws, kDefaultChunk);

  nlohmann::json out = {{"distilled", dir},  {"m", Xs.n_cols},   {"model", spec.kind},
                        {"lambda_s", lambda_s}, {"n_test", data.test.pixels.n_cols},
                        {"test_acc", acc}};
  if (report.contains("certificate")) {
    const double reported = report["certificate"]["distilled"]["test_acc"].get<double>();
    out["report_test_acc"] = reported;
    out["matches_report"] = reported == acc;
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = argv[1];
  try {
    // The command's own options follow it; cxxopts sees "krrdistill <command> ...".
    if (command == "distill") return run_distill(argc - 1, argv + 1);
    if (command == "eval") return run_eval(argc - 1, argv + 1);
    if (command == "-h" || command == "--help" || command == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "error: unknown command '%s'\n%s", command.c_str(), kUsage);
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  return 1;
}
