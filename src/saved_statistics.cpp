#include "krrdistill/saved_statistics.hpp"

#include <cstdint>

#include "krrdistill/dataset_files.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/statistics_file.hpp"

namespace krrdistill {

namespace {

bool is_linear(const FeatureMapSpec& spec) {
  return spec.kind == "linear";
}

// The spec with every default resolved from the map, so that the map is
// rebuilt from it alone, whatever d the defaults would have followed.
FeatureMapSpec resolved_spec(FeatureMapSpec spec, const FeatureMap& map) {
  if (const auto* rff = std::get_if<RandomFourierMap>(&map)) {
    spec.features = feature_dim(map);
    spec.rff_sigma = rff->sigma;
  }
  if (const auto* fcnn = std::get_if<FcnnMap>(&map)) {
    spec.width = feature_dim(map);
    spec.layers = fcnn->layers.size();
    spec.slope = fcnn->slope;
  }
  return spec;
}
std::string same_or_merged(const std::string& a, const std::string& b) {
  return a == b ? a : "merged";
}

// FNV-1a, 64 bits, of one sample: its pixels and its label.
std::uint64_t sample_hash(const std::uint8_t* pixels, arma::uword d, arma::uword label) {
  std::uint64_t h = 14695981039346656037ull;
  const auto mix = [&h](std::uint8_t byte) {
    h ^= byte;
    h *= 1099511628211ull;
  };
  for (arma::uword i = 0; i < d; ++i) mix(pixels[i]);
  for (int shift = 0; shift < 64; shift += 8) mix(std::uint8_t(label >> shift));
  return h;
}

// Adds each sample's hash to total (mod 2^64): summed over the processes,
// the same for any order of the samples and any number of processes, so
// that the same data given twice is recognised whatever its folder is
// called. Seen by the statistics pass itself, so it costs no pass of its own.
PixelVisitor fingerprint_visitor(const SplitSource& train, arma::uword& total) {
  return [&train, &total](arma::uword first, const PixelMatrix& pixels, arma::uword column,
                          arma::uword count) {
    const arma::uvec labels = labels_of(train, first, count);
    for (arma::uword j = 0; j < count; ++j)
      total += sample_hash(pixels.colptr(column + j), train.dim, labels[j]);
  };
}

}  // namespace

SavedStatistics compute_statistics(const StreamDataset& data, const StatisticsConfig& config,
                                   const SavedStatistics* fixed, const Communicator& comm,
                                   const Progress& progress, const std::string& fixed_path) {
  const arma::uword d = data.shape.size(), n = data.train.size();
  require_images_with_classes(data.regression(), data.feature_matrix(), data.name,
                              "a statistics file");
  check_chunk(config.fit.chunk);
  check_feature_sizes(config.spec, d);
  SavedStatistics out;
  out.description.name = data.name;
  out.description.shape = data.shape;
  out.description.num_classes = data.num_classes;
  out.description.class_names = data.class_names;
  // A part may lack a class (a later batch of data): the merge must not.
  out.class_counts.zeros(data.num_classes);
  for (const arma::uword label : labels_of(data.train, 0, n)) ++out.class_counts[label];
  out.zca = config.source.zca;
  out.zca_reg_fraction = config.source.zca_reg_fraction;
  out.validation_fraction = config.fit.validation_fraction;
  out.validation_seed = config.fit.seed;
  const FeatureMap map = make_feature_map(config.spec, d);
  out.spec = resolved_spec(config.spec, map);
  if (is_linear(out.spec)) {
    if (fixed != nullptr)
      throw Error(
          "--preprocessing is for nonlinear maps: a linear map's statistics are exact pixel "
          "moments, and its preprocessing follows from them after any merge");
  } else if (fixed != nullptr) {
    if (!same_shape(fixed->description.shape, data.shape))
      throw Error("the preprocessing file is for images of " +
                  shape_text(fixed->description.shape) + ", the data's are " +
                  shape_text(data.shape));
    if (is_linear(fixed->spec))
      throw Error(
          "the preprocessing file holds a linear map's statistics, which fix no "
          "preprocessing");
    if (fixed->zca != out.zca || fixed->zca_reg_fraction != out.zca_reg_fraction)
      throw Error("--zca and --zca-reg must be those of the preprocessing file");
    out.pre = fixed->pre;
    out.preprocessing_origin = fixed->preprocessing_origin;
  } else {
    progress.status("preprocessing");
    out.pre = fit_preprocessor(data, out.zca, out.zca_reg_fraction, config.fit.chunk, comm);
    out.preprocessing_origin = absolute_data_dir(config.source);
  }
  arma::uvec fingerprint(1, arma::fill::zeros);
  out.sums = fit_sums(data, out.pre, map, config.fit, comm, progress,
                      fingerprint_visitor(data.train, fingerprint[0]));
  allreduce_sum(comm, fingerprint);
  out.parts = {{config.source.dataset, absolute_data_dir(config.source), n, fingerprint[0], ""}};
  if (!is_linear(out.spec))
    out.parts[0].preprocessing = fixed != nullptr ? "from " + fixed_path : "fitted";
  return out;
}
SavedStatistics merge_statistics(const std::vector<SavedStatistics>& parts,
                                 const std::vector<std::string>& names) {
  if (parts.empty()) throw Error("no statistics to merge");
  SavedStatistics out = parts[0];
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const SavedStatistics& s = parts[i];
    const std::string which = i < names.size() ? names[i] : "statistics " + std::to_string(i);
    const std::string first = names.empty() ? "the first" : names[0];
    const auto refuse = [&](const std::string& what) {
      throw Error(which + " cannot be merged with " + first + ": " + what);
    };
    if (!same_shape(s.description.shape, out.description.shape))
      refuse("images of " + shape_text(s.description.shape) + " against " +
             shape_text(out.description.shape));
    if (s.description.num_classes != out.description.num_classes ||
        s.description.class_names != out.description.class_names)
      refuse(std::to_string(s.description.num_classes) + " classes (" +
             nlohmann::json(s.description.class_names).dump() + ") against " +
             std::to_string(out.description.num_classes) + " (" +
             nlohmann::json(out.description.class_names).dump() + ")");
    for (const StatisticsPart& part : s.parts)
      for (const StatisticsPart& earlier : out.parts)
        if (part.fingerprint == earlier.fingerprint && part.n_train == earlier.n_train)
          refuse("both hold the statistics of the same " + std::to_string(part.n_train) +
                 " samples (" + part.dir + ", " + earlier.dir + "): they would count twice");
    // A linear map has no random parts: its seed does not matter here.
    if (!is_linear(out.spec) ? map_spec_json(s.spec) != map_spec_json(out.spec)
                             : s.spec.kind != out.spec.kind)
      refuse("a different feature map or seed (" + map_spec_json(s.spec).dump() + " against " +
             map_spec_json(out.spec).dump() + ")");
    if (s.zca != out.zca || s.zca_reg_fraction != out.zca_reg_fraction)
      refuse("different --zca or --zca-reg");
    if (s.validation_fraction != out.validation_fraction) refuse("a different validation fraction");
    if (!is_linear(out.spec)) {
      const Preprocessor& a = s.pre;
      const Preprocessor& b = out.pre;
      const bool same = arma::approx_equal(a.channel_mean, b.channel_mean, "absdiff", 0.0) &&
                        arma::approx_equal(a.channel_std, b.channel_std, "absdiff", 0.0) &&
                        a.zca_reg == b.zca_reg &&
                        arma::approx_equal(a.zca_whiten, b.zca_whiten, "absdiff", 0.0) &&
                        arma::approx_equal(a.zca_unwhiten, b.zca_unwhiten, "absdiff", 0.0);
      if (!same)
        refuse(
            "a different preprocessing (a nonlinear map's statistics add only under one fixed "
            "preprocessing: compute the new statistics with --preprocessing naming an existing "
            "file)");
      add(out.sums.G, s.sums.G);
      add(out.sums.B, s.sums.B);
      add(out.sums.validation_G, s.sums.validation_G);
      add(out.sums.validation_B, s.sums.validation_B);
    } else {
      if (double(out.sums.n) + double(s.sums.n) > kMaxMomentSamples)
        throw Error("the merged statistics hold more samples than exact pixel moments allow");
      out.sums.moments = plus(out.sums.moments, s.sums.moments);
      out.sums.validation_moments = plus(out.sums.validation_moments, s.sums.validation_moments);
    }
    out.description.name = same_or_merged(out.description.name, s.description.name);
    out.class_counts += s.class_counts;
    out.sums.n += s.sums.n;
    out.sums.n_validation += s.sums.n_validation;
    out.parts.insert(out.parts.end(), s.parts.begin(), s.parts.end());
  }
  return out;
}

Model fit_statistics(const SavedStatistics& stats, const FitOptions& options) {
  const arma::uword d = stats.description.shape.size(), p = output_dim(stats.spec, d);
  // The map (p×d), and G with its eigenvectors and solve (a few p×p).
  std::vector<MemoryItem> need = feature_map_memory(stats.spec, d);
  need.push_back({"G and its factorisations", 4.0 * double(p) * double(p) * 8.0});
  check_memory("the fit", need);
  return fit_from_sums(stats.sums, stats.description.shape, stats.pre,
                       make_feature_map(stats.spec, d), stats.zca, stats.zca_reg_fraction, options);
}

}  // namespace krrdistill
