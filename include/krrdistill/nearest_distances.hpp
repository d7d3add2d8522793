// Each distilled input's distance to its nearest training input, in model
// input space, taken over the training chunks of the certificate's pass
// (docs/design.md §6).
#pragma once

#include <armadillo>

namespace krrdistill {

// A single-precision product of each chunk screens the pairs; the pairs
// whose rounding bound leaves them a chance of being the nearest are then
// measured in double, as Σ_k (xs_k − x_k)² in index order. The minimum is
// therefore the one every pair measured so would give: the same bits for
// any chunking, order of chunks, process or thread count, and free of the
// cancellation in ‖xs‖² + ‖x‖² − 2 xsᵀx.
class NearestDistances {
 public:
  // Xs: the distilled inputs, d×m.
  explicit NearestDistances(const arma::mat& Xs);

  // Lowers each distance by a chunk of training inputs X (d×count),
  // screened by a float product formed here.
  void add(const arma::mat& X);
  // The same screened by the chunk's −2 Xsᵀ X (m×count) in double, formed
  // by the caller: a linear map's scores product carries it at little cost.
  void add(const arma::mat& X, const arma::mat& minus_2_cross);

  // The squared distances so far, infinity before any sample: reduce them
  // with a minimum across processes.
  arma::vec& squared() { return nearest_sq_; }

  // Pairs measured in double so far (the rest the screen ruled out).
  arma::uword measured() const { return measured_; }

 private:
  arma::mat Xs_;
  arma::fmat minus_2xs_;  // −2 Xs in float: the screen's product
  arma::vec xs_norm_, xs_sq_;
  arma::vec nearest_sq_;
  arma::uword measured_ = 0;
  arma::fmat X_float_;  // the chunk in float, reused from chunk to chunk

  // ‖x‖² of each column of X, and into X_float (already d×count) X in float.
  arma::vec column_norms(const arma::mat& X, arma::fmat* X_float) const;
  // Screens each pair by cross (count×m, −2 xᵀxs in T) unless screen is
  // false, then measures those the screen leaves.
  template <typename T>
  void lower_by(const arma::mat& X, const arma::vec& x_sq, const arma::Mat<T>& cross, bool screen);
};

}  // namespace krrdistill
