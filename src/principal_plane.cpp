#include "krrdistill/principal_plane.hpp"

#include <algorithm>
#include <cstdio>

#include "krrdistill/error.hpp"
#include "krrdistill/plot.hpp"

namespace krrdistill {

PrincipalPlane principal_plane(const StreamDataset& data, const Preprocessor& pre,
                               const arma::mat& Xs, const Range& shard, const Communicator& comm) {
  const arma::uword n = data.train.size(), p = data.train.dim;
  if (n == 0 || p == 0) throw Error("no training samples to find principal directions in");
  const arma::uword s =
      std::max<arma::uword>(std::min<arma::uword>({n, 1000, arma::uword(6.25e6 / double(p))}),
                            std::min<arma::uword>(n, 2));
  arma::uvec indices(s);
  for (arma::uword i = 0; i < s; ++i) indices[i] = arma::uword(double(i) * double(n) / double(s));
  const arma::mat X = model_inputs(pre, data.train, indices, shard, comm);
  const arma::vec center = arma::mean(X, 1);
  arma::mat centred = X;
  centred.each_col() -= center;
  arma::mat U, V;
  arma::vec singular;
  if (!arma::svd_econ(U, singular, V, centred, "left", "dc"))
    throw Error("SVD of the training samples failed");
  arma::mat directions(p, 2, arma::fill::zeros);
  for (arma::uword j = 0; j < std::min<arma::uword>(2, U.n_cols); ++j) {
    directions.col(j) = U.col(j);
    if (directions(arma::index_max(arma::abs(U.col(j))), j) < 0) directions.col(j) *= -1.0;
  }
  PrincipalPlane plane;
  plane.n_train = n;
  plane.samples = directions.t() * centred;
  arma::mat distilled = Xs;
  distilled.each_col() -= center;
  plane.distilled = directions.t() * distilled;
  const double total = arma::accu(arma::square(singular));
  plane.variance = arma::zeros<arma::vec>(2);
  for (arma::uword j = 0; j < std::min<arma::uword>(2, singular.n_elem); ++j)
    plane.variance[j] = total > 0 ? singular[j] * singular[j] / total : 0.0;
  if (!data.regression()) {
    plane.sample_labels = labels_of(data.train, indices);
    plane.class_means.zeros(2, data.num_classes);
    arma::vec counts(data.num_classes, arma::fill::zeros);
    for (arma::uword i = 0; i < s; ++i) {
      plane.class_means.col(plane.sample_labels[i]) += plane.samples.col(i);
      counts[plane.sample_labels[i]] += 1;
    }
    for (arma::uword c = 0; c < data.num_classes; ++c)
      plane.class_means.col(c) /= std::max(1.0, counts[c]);
  }
  return plane;
}

void write_principal_plane_png(const std::string& path, const PrincipalPlane& plane,
                               const std::vector<std::string>& class_names) {
  const auto series = [](const std::string& name, const arma::mat& points) {
    PlotSeries out;
    out.name = name;
    out.points_only = true;
    out.x = arma::conv_to<std::vector<double>>::from(points.row(0));
    out.y = arma::conv_to<std::vector<double>>::from(points.row(1));
    return out;
  };
  PlotSpec spec;
  char title[256];
  std::snprintf(title, sizeof title,
                "first two principal directions of %llu of the %llu training samples",
                static_cast<unsigned long long>(plane.samples.n_cols),
                static_cast<unsigned long long>(plane.n_train));
  spec.title = title;
  char axis[64];
  std::snprintf(axis, sizeof axis, "direction 1 (%.1f%% of the variance)", 100 * plane.variance[0]);
  spec.x_label = axis;
  std::snprintf(axis, sizeof axis, "direction 2 (%.1f%% of the variance)", 100 * plane.variance[1]);
  spec.y_label = axis;
  PlotSeries samples = series("training samples", plane.samples);
  samples.points_only = false;
  samples.cloud = true;
  spec.series.push_back(samples);
  const arma::uword k = class_names.size();
  if (!plane.class_means.is_empty()) {
    PlotSeries means = series("class means", plane.class_means);
    means.point_labels = class_names;
    spec.series.push_back(means);
  }
  PlotSeries distilled = series("distilled", plane.distilled);
  for (arma::uword j = 0; j < plane.distilled.n_cols; ++j)
    distilled.point_labels.push_back(k == 0 ? "" : class_names[j % k]);
  spec.series.push_back(distilled);
  write_plot_png(path, spec);
}

}  // namespace krrdistill
