#include "cli_common.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <sstream>

#include "krrdistill/distributed.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/sample_chunks.hpp"

namespace krrdistill::cli {

void add_data_options(cxxopts::Options& options) {
  options.add_options("data")("dataset",
                              "fashion-mnist, mnist, idx, cifar10, cifar100, npy (default "
                              "fashion-mnist, or auto with --data)",
                              cxxopts::value<std::string>())(
      "data", "folder holding the dataset files", cxxopts::value<std::string>())(
      "coarse", "CIFAR-100: the 20 coarse classes instead of the 100 fine ones")(
      "zca", "ZCA whitening after standardisation")(
      "zca-reg", "ZCA regulariser as a fraction of the mean eigenvalue",
      cxxopts::value<std::string>()->default_value("0.1"));
  options.add_options("model")("model",
                               "linear, rff or fcnn (kip and labelsolve also: ntk, nngp, rbf)",
                               cxxopts::value<std::string>()->default_value("linear"))(
      "features", "rff: number of random features p, 1..d (default d)",
      cxxopts::value<unsigned>()->default_value("0"))(
      "rff-sigma", "rff: bandwidth sigma (default sqrt(d))",
      cxxopts::value<std::string>()->default_value("0"))(
      "layers", "fcnn: hidden layers L, 1..100", cxxopts::value<unsigned>()->default_value("1"))(
      "width", "fcnn: width of the hidden layers, 1..d (default d)",
      cxxopts::value<unsigned>()->default_value("0"))(
      "slope", "fcnn: leaky ReLU slope", cxxopts::value<std::string>()->default_value("0.1"))(
      "lambda", "ridge of the original model (default: validation sweep 1e-6 .. 10^5.5)",
      cxxopts::value<std::string>());
  options.add_options("run")("seed", "seed of every random choice",
                             cxxopts::value<std::uint64_t>()->default_value("0"))(
      "threads",
      "OpenMP threads of the elementwise work, 0 (one per core, the default) or 1..256; OpenBLAS "
      "runs on one thread so results do not depend on it",
      cxxopts::value<int>()->default_value("0"))(
      "chunk", "images per chunk of a pass, 1..65536 (its rounding shows in the last bits)",
      cxxopts::value<unsigned>()->default_value(std::to_string(kDefaultChunk)))(
      "feature-cache-mb",
      "keep nonlinear training features in memory up to this size for the "
      "certificate (0: recompute them)",
      cxxopts::value<unsigned>()->default_value("2048"))("quiet", "no progress on stderr")(
      "h,help", "this help");
}

cxxopts::ParseResult parse(cxxopts::Options& options, int argc, char** argv) {
  cxxopts::ParseResult result = options.parse(argc, argv);
  if (!result.unmatched().empty())
    throw Error("unexpected argument '" + result.unmatched().front() + "'");
  return result;
}

double finite_option(const cxxopts::ParseResult& result, const std::string& name) {
  const std::string text = result[name].as<std::string>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value))
    throw Error("--" + name + " must be a finite number, got '" + text + "'");
  return value;
}

FitOptions fit_options(const cxxopts::ParseResult& result, std::uint64_t seed) {
  FitOptions fit;
  fit.seed = seed;
  fit.chunk = result["chunk"].as<unsigned>();
  check_chunk(fit.chunk);
  if (result.count("lambda")) {
    fit.lambda = finite_option(result, "lambda");
    if (fit.lambda < 0) throw Error("--lambda must be >= 0");
  }
  return fit;
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

void print_warning(const std::string& text) {
  std::fprintf(stderr, "warning: %s\n", text.c_str());
}

FeatureMapSpec feature_spec(const cxxopts::ParseResult& result) {
  FeatureMapSpec spec;
  spec.kind = result["model"].as<std::string>();
  spec.features = result["features"].as<unsigned>();
  spec.rff_sigma = finite_option(result, "rff-sigma");
  if (spec.rff_sigma < 0) throw Error("--rff-sigma must be positive");
  spec.layers = result["layers"].as<unsigned>();
  check_layers(spec.layers);
  spec.width = result["width"].as<unsigned>();
  spec.slope = finite_option(result, "slope");
  spec.seed = result["seed"].as<std::uint64_t>();
  return spec;
}

KipOptions kip_options(const cxxopts::ParseResult& result, const std::string& steps_option) {
  KipOptions options;
  options.steps = result[steps_option].as<unsigned>();
  options.lr = finite_option(result, "lr");
  options.batch = result["batch"].as<unsigned>();
  options.eval_every = result["eval-every"].as<unsigned>();
  options.labels = parse_label_mode(result["labels"].as<std::string>());
  options.seed = result["seed"].as<std::uint64_t>();
  check_kip_steps(options.steps, steps_option);
  if (!(options.lr > 0)) throw Error("--lr must be positive");
  check_kip_batch(options.batch);
  return options;
}

void add_kip_options(cxxopts::Options& options, const std::string& steps_option,
                     const std::string& default_labels) {
  options.add_options("kip")(steps_option, "KIP steps, 1..1000000",
                             cxxopts::value<unsigned>()->default_value("200"))(
      "lr", "Adam learning rate", cxxopts::value<std::string>()->default_value("0.01"))(
      "batch", "target batch size (class-balanced), 1..65536",
      cxxopts::value<unsigned>()->default_value("5000"))(
      "eval-every", "test accuracy every E steps (and at the last)",
      cxxopts::value<unsigned>()->default_value("20"))(
      "labels", "fixed, learn or solve (Label Solve on each step's batch)",
      cxxopts::value<std::string>()->default_value(default_labels));
}

KipProgressCallback kip_progress_printer(const Progress& progress, const std::string& label) {
  if (!progress.enabled()) return {};
  return [progress, label](const KipProgress& p) {
    std::ostringstream line;
    line.setf(std::ios::fixed);
    line.precision(4);
    line << label << " step " << p.step << "/" << p.steps << "  loss " << p.loss;
    if (p.test_accuracy) line << "  test acc " << *p.test_accuracy;
    line.precision(1);
    line << "  " << p.steps_per_second << " steps/s";
    progress.status(line.str());
  };
}

void add_network_options(cxxopts::Options& options, const std::string& group,
                         const std::string& prefix) {
  options.add_options(group)(prefix + "width", "hidden units per layer, 1..65536",
                             cxxopts::value<unsigned>()->default_value("1024"))(
      prefix + "depth", "hidden layers, 1..100", cxxopts::value<unsigned>()->default_value("1"))(
      prefix + "epochs", "passes over the set, 1..1000000",
      cxxopts::value<unsigned>()->default_value("100"))(
      prefix + "batch", "minibatch size, 1..65536 (a smaller set is one full batch)",
      cxxopts::value<unsigned>()->default_value("256"))(
      prefix + "lr", "Adam's learning rate, > 0",
      cxxopts::value<std::string>()->default_value("0.001"))(
      prefix + "loss",
      "mse (half the mean squared error on the labels as written) or ce (softmax cross-entropy "
      "on each image's class, the argmax of its label)",
      cxxopts::value<std::string>()->default_value("mse"))(
      prefix + "eval-every", "test accuracy every this many epochs (and at the last), 1..1000000",
      cxxopts::value<unsigned>()->default_value("25"))(
      prefix + "subsets", "random real subsets (seeds seed+1..seed+N), 1..1000",
      cxxopts::value<unsigned>()->default_value("5"));
}

TransferOptions network_options(const cxxopts::ParseResult& result, const std::string& prefix,
                                std::uint64_t seed) {
  TransferOptions o;
  o.net.width = result[prefix + "width"].as<unsigned>();
  o.net.depth = result[prefix + "depth"].as<unsigned>();
  o.net.epochs = result[prefix + "epochs"].as<unsigned>();
  o.net.batch = result[prefix + "batch"].as<unsigned>();
  o.net.lr = finite_option(result, prefix + "lr");
  o.net.loss = parse_mlp_loss(result[prefix + "loss"].as<std::string>(), prefix + "loss");
  o.net.seed = seed;
  o.eval_every = result[prefix + "eval-every"].as<unsigned>();
  o.subsets = result[prefix + "subsets"].as<unsigned>();
  check_transfer_options(o, prefix);
  return o;
}

int run_on_processes(int argc, char** argv,
                     int (*command)(int argc, char** argv, const Communicator& comm)) {
  MpiSession mpi;
  const Communicator comm = mpi.world();
  if (comm.size == 1) return command(argc, argv, comm);
  try {
    return command(argc, argv, comm);
  } catch (const std::bad_alloc&) {
    abort_all(comm, "out of memory");
  } catch (const std::exception& e) {
    abort_all(comm, error_text(e));
  }
}

}  // namespace krrdistill::cli
