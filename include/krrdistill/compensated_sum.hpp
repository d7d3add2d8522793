// Compensated summation of matrices; the sum across processes is
// allreduce_sum in distributed.hpp.
#pragma once

#include <armadillo>

namespace krrdistill {

// A sum of matrices kept in double-double precision: entry i is the pair
// (high, low) in column i of pairs. Its rounded value does not depend on the
// order in which the terms were added (up to an error near 1e-32 relative),
// so G and B summed over chunks and processes come out the same, bit for
// bit, whatever the number of processes (docs/design.md §2).
struct CompensatedSum {
  arma::mat pairs;  // 2×(rows·cols)
  arma::uword n_rows = 0;
  arma::uword n_cols = 0;
};

CompensatedSum compensated_zeros(arma::uword rows, arma::uword cols);
// Adds terms (rows×cols) entry by entry, the rounding error of each addition
// carried in the low part (TwoSum).
void add(CompensatedSum& sum, const arma::mat& terms);
// high + low, rounded once.
arma::mat value(const CompensatedSum& sum);

}  // namespace krrdistill
