// Compensated summation of matrices; the sum across processes is
// allreduce_sum in distributed.hpp.
#pragma once

#include <armadillo>
#include <cstddef>

namespace krrdistill {

// A sum of matrices kept in double-double precision: entry i is the pair
// (high, low) in column i of pairs. Its rounded value does not depend on the
// order in which the terms were added (up to an error near 1e-32 relative),
// so G and B summed over chunks and processes come out the same, bit for
// bit, whatever the number of processes (docs/design.md §7).
struct CompensatedSum {
  arma::mat pairs;  // 2×(rows·cols)
  arma::uword n_rows = 0;
  arma::uword n_cols = 0;
};

CompensatedSum compensated_zeros(arma::uword rows, arma::uword cols);
// One entry's pair (high, low) += term: TwoSum, s + e == high + term exactly.
inline void add_term(double* pair, double term) {
  const double high = pair[0], s = high + term, back = s - high;
  pair[0] = s;
  pair[1] += (high - (s - back)) + (term - back);
}
// Adds terms (rows×cols) entry by entry, the rounding error of each addition
// carried in the low part (TwoSum).
void add(CompensatedSum& sum, const arma::mat& terms);
// Adds another compensated sum of the same shape: the merge of two partial
// sums (of processes, or of saved statistics files).
void add(CompensatedSum& sum, const CompensatedSum& other);
// inout += in for count (high, low) pairs: TwoSum of the high parts, then the
// low parts, renormalised (FastTwoSum). Commutative.
void add_pairs(const double* in, double* inout, std::size_t count);
// Copies the strictly lower triangle's pairs of a square sum onto the upper
// triangle: completes a Gram accumulated by add_gram_lower (products.hpp).
void mirror_lower(CompensatedSum& sum);
// high + low, rounded once.
arma::mat value(const CompensatedSum& sum);
// from − value(sum), entry by entry in place: the same bits without a
// temporary of from's size (a p×p Gram's).
void subtract_value(arma::mat& from, const CompensatedSum& sum);

}  // namespace krrdistill
