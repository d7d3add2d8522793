#include "krrdistill/products.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <utility>
#include <vector>

#include "krrdistill/error.hpp"

namespace krrdistill {

namespace {

// Near-equal blocks of about kBlock rows or columns: large enough for BLAS to
// run at full speed, small enough to give two or more threads work to share.
constexpr arma::uword kBlock = 512;

std::vector<arma::uword> block_edges(arma::uword size) {
  const arma::uword blocks = std::max<arma::uword>(1, (size + kBlock - 1) / kBlock);
  std::vector<arma::uword> edges(blocks + 1);
  for (arma::uword b = 0; b <= blocks; ++b) edges[b] = size * b / blocks;
  return edges;
}

void check_blas_size(arma::uword size) {
  if (size > arma::uword(INT_MAX)) throw Error("matrix too large for 32-bit BLAS indices");
}

// C = op(A) B, op(A) = A or Aᵀ, on a fixed grid of tiles of C, each one
// GEMM call: rows of C in blocks too, so that a narrow C with a long inner
// dimension (a backward pass's p×m) still spreads over the threads.
arma::mat blocked_product(const arma::mat& A, const arma::mat& B, bool transpose_a) {
  const arma::uword m = transpose_a ? A.n_cols : A.n_rows;
  const arma::uword inner = transpose_a ? A.n_rows : A.n_cols;
  if (inner != B.n_rows) throw Error("product: inner dimensions do not match");
  for (arma::uword s : {A.n_rows, A.n_cols, B.n_rows, B.n_cols}) check_blas_size(s);
  arma::mat C(m, B.n_cols);
  if (C.is_empty()) return C;
  if (inner == 0) return C.zeros();
  const std::vector<arma::uword> row_edges = block_edges(m), col_edges = block_edges(B.n_cols);
  const long row_blocks = long(row_edges.size()) - 1, col_blocks = long(col_edges.size()) - 1;
  const long tiles = row_blocks * col_blocks;
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1)
  for (long t = 0; t < tiles; ++t) {
    const arma::uword row = row_edges[t % row_blocks], rows = row_edges[t % row_blocks + 1] - row;
    const arma::uword col = col_edges[t / row_blocks], cols = col_edges[t / row_blocks + 1] - col;
    const double* a = transpose_a ? A.colptr(row) : A.memptr() + row;
    cblas_dgemm(CblasColMajor, transpose_a ? CblasTrans : CblasNoTrans, CblasNoTrans, int(rows),
                int(cols), int(inner), 1.0, a, int(A.n_rows), B.colptr(col), int(B.n_rows), 0.0,
                C.memptr() + row + col * m, int(m));
  }
  return C;
}

}  // namespace

void add_gram(arma::mat& G, const arma::mat& Phi) {
  const arma::uword p = Phi.n_rows, n = Phi.n_cols;
  if (G.n_rows != p || G.n_cols != p) throw Error("gram: G does not match the features");
  check_blas_size(p);
  check_blas_size(n);
  if (p == 0 || n == 0) return;
  const std::vector<arma::uword> edges = block_edges(p);
  const arma::uword blocks = edges.size() - 1;
  // Lower-triangle tiles (i, j), j <= i; the full GEMM tiles first so that
  // the half-cost SYRK tiles even out the threads' loads at the end.
  std::vector<std::pair<arma::uword, arma::uword>> tiles;
  for (arma::uword i = 0; i < blocks; ++i)
    for (arma::uword j = 0; j < i; ++j) tiles.emplace_back(i, j);
  for (arma::uword i = 0; i < blocks; ++i) tiles.emplace_back(i, i);
  const long count = long(tiles.size());
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
  for (long t = 0; t < count; ++t) {
    const auto [i, j] = tiles[t];
    const arma::uword row = edges[i], rows = edges[i + 1] - row;
    const arma::uword col = edges[j], cols = edges[j + 1] - col;
    double* tile = G.memptr() + row + col * p;
    if (i == j)
      cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, int(rows), int(n), 1.0,
                  Phi.memptr() + row, int(p), 1.0, tile, int(p));
    else
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, int(rows), int(cols), int(n), 1.0,
                  Phi.memptr() + row, int(p), Phi.memptr() + col, int(p), 1.0, tile, int(p));
  }
  G = arma::symmatl(G);
}

arma::mat multiply(const arma::mat& A, const arma::mat& B) {
  return blocked_product(A, B, false);
}

arma::mat multiply_transposed(const arma::mat& A, const arma::mat& B) {
  return blocked_product(A, B, true);
}

}  // namespace krrdistill
