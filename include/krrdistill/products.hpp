// Matrix products on every OpenMP thread that give the same bits for any
// thread count. OpenBLAS runs on one thread (threads.hpp) because its own
// threading splits a product by the number of threads; here a product is cut
// into blocks by a fixed rule (sizes only, never the thread count), each
// block is one single-threaded BLAS call, and no two blocks write the same
// entry, so which thread runs a block cannot change a result. A double
// result of at most 128 rows over more columns is formed block by block as
// its transpose, which the BLAS runs faster (docs/design.md §7).
#pragma once

#include <armadillo>

#include "krrdistill/compensated_sum.hpp"

namespace krrdistill {

// Every product cuts its result's rows and columns into near-equal blocks of
// at most kProductBlock, by size alone (never the thread count): large enough
// for BLAS to run at full speed, small enough to share among threads. A size
// that is a multiple of it is cut into blocks of exactly kProductBlock, so a
// product over a run of whole blocks makes the tiles one over all of them
// makes.
constexpr arma::uword kProductBlock = 512;

// G += Phi Phiᵀ for a symmetric p×p G (p = Phi.n_rows): SYRK on the diagonal
// tiles and GEMM below them, then the lower triangle mirrored (docs/design.md §2's
// statistics, the dominant cost of a fit).
void add_gram(arma::mat& G, const arma::mat& Phi);

// The same from single-precision features: each tile a float SYRK or GEMM
// over at most 1024 samples at a time, the partial sums added in double
// (docs/design.md §12). Twice the double product's speed.
void add_gram(arma::mat& G, const arma::fmat& Phi);

// The same added to the lower triangle (diagonal included) of a compensated
// sum, its upper triangle left as it was: each tile formed from zero on its
// thread and added there entry by entry (TwoSum). The mirror would receive
// the same terms in the same order, so mirror_lower once after the last
// chunk gives, to the bit, add_gram into a zero matrix then add(G, ·) chunk
// by chunk, with half the additions and no strided writes.
void add_gram_lower(CompensatedSum& G, const arma::mat& Phi);
void add_gram_lower(CompensatedSum& G, const arma::fmat& Phi);

// A B, and Aᵀ B, with the columns of B (and of the result) in fixed blocks.
arma::mat multiply(const arma::mat& A, const arma::mat& B);
arma::mat multiply_transposed(const arma::mat& A, const arma::mat& B);
arma::fmat multiply(const arma::fmat& A, const arma::fmat& B);
arma::fmat multiply_transposed(const arma::fmat& A, const arma::fmat& B);

// Aᵀ B with the result's rows and columns in blocks of at most `block`
// instead: a product of a few hundred rows, one tile at kProductBlock,
// spread over the threads. Its bits depend on the block, still never on
// the thread count.
arma::fmat multiply_transposed(const arma::fmat& A, const arma::fmat& B, arma::uword block);

// A B in double for a short A (a few rows against many columns: both
// models' scores), each entry Σ_k A_ik B_kj summed in one fixed order by
// plain code rather than the BLAS, so that the entries are the same bits
// whatever the precision B's columns are held in (a float's double value
// is exact), the CPU's vector width and the thread count: the scores from
// a feature cache's floats equal those from their double copies. Each
// column of B is read once, with no double copy of a float B.
arma::mat multiply_fixed_order(const arma::mat& A, const arma::mat& B);
arma::mat multiply_fixed_order(const arma::mat& A, const arma::fmat& B);

// A B into C, already A.n_rows × B.n_cols: the same tiles and bits as
// multiply, written where the caller keeps them (a feature cache's columns).
void multiply_into(const arma::fmat& A, const arma::fmat& B, arma::fmat& C);

}  // namespace krrdistill
