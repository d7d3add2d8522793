#include "krrdistill/products.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "krrdistill/error.hpp"
#include "vector_copies.hpp"  // the fixed-order products' copies

namespace krrdistill {

namespace {

// Samples per single-precision partial Gram sum (docs/design.md §12).
constexpr arma::uword kSingleSamples = 1024;

// Double results of at most this many rows go as their transposes.
constexpr arma::uword kShortRows = kProductBlock / 4;

std::vector<arma::uword> block_edges(arma::uword size, arma::uword block = kProductBlock) {
  const arma::uword blocks = std::max<arma::uword>(1, (size + block - 1) / block);
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
void gemm(bool transpose_a, int m, int n, int k, const double* a, int lda, const double* b, int ldb,
          double* c, int ldc) {
  cblas_dgemm(CblasColMajor, transpose_a ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a,
              lda, b, ldb, 0.0, c, ldc);
}

void gemm(bool transpose_a, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
          float* c, int ldc) {
  cblas_sgemm(CblasColMajor, transpose_a ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0f,
              a, lda, b, ldb, 0.0f, c, ldc);
}

// C = op(A) B into C, already of the result's size (it may be a view of a
// larger matrix's columns, such as a feature cache's).
template <typename T>
void blocked_product_into(const arma::Mat<T>& A, const arma::Mat<T>& B, bool transpose_a,
                          arma::Mat<T>& C, arma::uword block = kProductBlock) {
  const arma::uword m = transpose_a ? A.n_cols : A.n_rows;
  const arma::uword inner = transpose_a ? A.n_rows : A.n_cols;
  if (inner != B.n_rows) throw Error("product: inner dimensions do not match");
  if (C.n_rows != m || C.n_cols != B.n_cols) throw Error("product: the result has the wrong size");
  for (arma::uword s : {A.n_rows, A.n_cols, B.n_rows, B.n_cols}) check_blas_size(s);
  if (C.is_empty()) return;
  if (inner == 0) {
    C.zeros();
    return;
  }
  const std::vector<arma::uword> row_edges = block_edges(m, block),
                                 col_edges = block_edges(B.n_cols, block);
  const long row_blocks = long(row_edges.size()) - 1, col_blocks = long(col_edges.size()) - 1;
  const long tiles = row_blocks * col_blocks;
  // A short double result (a model's scores over a chunk of samples) is
  // formed as (Bᵀ op(A)ᵀ)ᵀ, the samples as the GEMM's rows: OpenBLAS's
  // SkylakeX double kernels ran 20 to 120 rows 1.03–1.73× faster on one
  // thread (bench/bench_gram.cpp; docs/design.md §7). The rule is by size
  // alone, so any thread count gives the same bits.
  const bool swapped = std::is_same_v<T, double> && m <= kShortRows && m < B.n_cols;
  const arma::Mat<T> At = swapped && !transpose_a ? arma::Mat<T>(A.t()) : arma::Mat<T>();
  const arma::Mat<T>& op_a_t = transpose_a ? A : At;  // op(A)ᵀ: inner × m
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1)
  for (long t = 0; t < tiles; ++t) {
    const arma::uword row = row_edges[t % row_blocks], rows = row_edges[t % row_blocks + 1] - row;
    const arma::uword col = col_edges[t / row_blocks], cols = col_edges[t / row_blocks + 1] - col;
    if (swapped) {
      thread_local arma::Mat<T> tile;  // kept, as add_tile's: no fresh pages per tile
      tile.set_size(cols, rows);
      gemm(true, int(cols), int(rows), int(inner), B.colptr(col), int(B.n_rows), op_a_t.colptr(row),
           int(op_a_t.n_rows), tile.memptr(), int(cols));
      // By hand: C.submat(...) = tile.t() goes through a fresh temporary.
      for (arma::uword j = 0; j < cols; ++j) {
        T* to = C.memptr() + row + (col + j) * m;
        for (arma::uword i = 0; i < rows; ++i) to[i] = tile(j, i);
      }
      continue;
    }
    const T* a = transpose_a ? A.colptr(row) : A.memptr() + row;
    gemm(transpose_a, int(rows), int(cols), int(inner), a, int(A.n_rows), B.colptr(col),
         int(B.n_rows), C.memptr() + row + col * m, int(m));
  }
}

template <typename T>
arma::Mat<T> blocked_product(const arma::Mat<T>& A, const arma::Mat<T>& B, bool transpose_a,
                             arma::uword block = kProductBlock) {
  arma::Mat<T> C(transpose_a ? A.n_cols : A.n_rows, B.n_cols);
  blocked_product_into(A, B, transpose_a, C, block);
  return C;
}

// The lower-triangle tiles (i, j), j <= i, of a Gram matrix cut at edges:
// the full GEMM tiles first so that the half-cost SYRK tiles even out the
// threads' loads at the end.
std::vector<std::pair<arma::uword, arma::uword>> gram_tiles(arma::uword blocks) {
  std::vector<std::pair<arma::uword, arma::uword>> tiles;
  for (arma::uword i = 0; i < blocks; ++i)
    for (arma::uword j = 0; j < i; ++j) tiles.emplace_back(i, j);
  for (arma::uword i = 0; i < blocks; ++i) tiles.emplace_back(i, i);
  return tiles;
}

// Adds tile (i, j) of Phi Phiᵀ, rows edges[i]… and columns edges[j]…, to the
// double tile at `to` (leading dimension ld): the lower triangle only when
// i == j. In double one BLAS call; in float (docs/design.md §12) a float sum
// runs over at most kSingleSamples samples and the parts are added in double.
void add_tile(const arma::mat& Phi, arma::uword row, arma::uword rows, arma::uword col,
              arma::uword cols, bool diagonal, double* to, arma::uword ld) {
  const arma::uword p = Phi.n_rows;
  if (diagonal)
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, int(rows), int(Phi.n_cols), 1.0,
                Phi.memptr() + row, int(p), 1.0, to, int(ld));
  else
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, int(rows), int(cols), int(Phi.n_cols), 1.0,
                Phi.memptr() + row, int(p), Phi.memptr() + col, int(p), 1.0, to, int(ld));
}

void add_tile(const arma::fmat& Phi, arma::uword row, arma::uword rows, arma::uword col,
              arma::uword cols, bool diagonal, double* to, arma::uword ld) {
  const arma::uword p = Phi.n_rows, n = Phi.n_cols;
  thread_local arma::fmat part;
  part.set_size(rows, cols);
  for (arma::uword first = 0; first < n; first += kSingleSamples) {
    const int samples = int(std::min(kSingleSamples, n - first));
    const float* a = Phi.colptr(first) + row;
    if (diagonal)
      cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, int(rows), samples, 1.0f, a, int(p),
                  0.0f, part.memptr(), int(rows));
    else
      cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, int(rows), int(cols), samples, 1.0f, a,
                  int(p), Phi.colptr(first) + col, int(p), 0.0f, part.memptr(), int(rows));
    for (arma::uword c = 0; c < cols; ++c) {
      double* into = to + c * ld;
      const float* from = part.colptr(c);
      for (arma::uword r = (diagonal ? c : 0); r < rows; ++r) into[r] += double(from[r]);
    }
  }
}

// Calls tile(row, rows, col, cols, diagonal) for every lower tile of a p×p
// Gram matrix, on every thread.
template <typename Tile>
void for_each_gram_tile(arma::uword p, Tile tile) {
  const std::vector<arma::uword> edges = block_edges(p);
  const std::vector<std::pair<arma::uword, arma::uword>> tiles = gram_tiles(edges.size() - 1);
  const long count = long(tiles.size());
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
  for (long t = 0; t < count; ++t) {
    const auto [i, j] = tiles[t];
    tile(edges[i], edges[i + 1] - edges[i], edges[j], edges[j + 1] - edges[j], i == j);
  }
}

template <typename T>
void check_gram(arma::uword p, const arma::Mat<T>& Phi) {
  if (p != Phi.n_rows) throw Error("gram: G does not match the features");
  check_blas_size(Phi.n_rows);
  check_blas_size(Phi.n_cols);
}

template <typename T>
void add_gram_to(arma::mat& G, const arma::Mat<T>& Phi) {
  if (G.n_rows != G.n_cols) throw Error("gram: G is not square");
  check_gram(G.n_rows, Phi);
  if (Phi.is_empty()) return;
  const arma::uword p = Phi.n_rows;
  for_each_gram_tile(
      p, [&](arma::uword row, arma::uword rows, arma::uword col, arma::uword cols, bool diagonal) {
        add_tile(Phi, row, rows, col, cols, diagonal, G.memptr() + row + col * p, p);
      });
  G = arma::symmatl(G);
}

template <typename T>
void add_gram_to(CompensatedSum& G, const arma::Mat<T>& Phi) {
  if (G.n_rows != G.n_cols) throw Error("gram: G is not square");
  check_gram(G.n_rows, Phi);
  if (Phi.is_empty()) return;
  const arma::uword p = Phi.n_rows;
  double* pairs = G.pairs.memptr();
  for_each_gram_tile(
      p, [&](arma::uword row, arma::uword rows, arma::uword col, arma::uword cols, bool diagonal) {
        thread_local arma::mat tile;
        tile.zeros(rows, cols);
        add_tile(Phi, row, rows, col, cols, diagonal, tile.memptr(), rows);
        for (arma::uword c = 0; c < cols; ++c) {
          double* column = pairs + 2 * (row + (col + c) * p);
          for (arma::uword r = (diagonal ? c : 0); r < rows; ++r)
            add_term(column + 2 * r, tile(r, c));
        }
      });
}

}  // namespace

void add_gram(arma::mat& G, const arma::mat& Phi) {
  add_gram_to(G, Phi);
}
void add_gram(arma::mat& G, const arma::fmat& Phi) {
  add_gram_to(G, Phi);
}
void add_gram_lower(CompensatedSum& G, const arma::mat& Phi) {
  add_gram_to(G, Phi);
}
void add_gram_lower(CompensatedSum& G, const arma::fmat& Phi) {
  add_gram_to(G, Phi);
}

arma::mat multiply(const arma::mat& A, const arma::mat& B) {
  return blocked_product(A, B, false);
}

arma::mat multiply_transposed(const arma::mat& A, const arma::mat& B) {
  return blocked_product(A, B, true);
}

arma::fmat multiply(const arma::fmat& A, const arma::fmat& B) {
  return blocked_product(A, B, false);
}

arma::fmat multiply_transposed(const arma::fmat& A, const arma::fmat& B) {
  return blocked_product(A, B, true);
}

arma::fmat multiply_transposed(const arma::fmat& A, const arma::fmat& B, arma::uword block) {
  if (block == 0) throw Error("product: blocks must hold at least one row");
  return blocked_product(A, B, true, block);
}

void multiply_into(const arma::fmat& A, const arma::fmat& B, arma::fmat& C) {
  blocked_product_into(A, B, false, C);
}

namespace {

// Interleaved partial sums of a fixed-order dot product: lane l sums the
// terms k ≡ l (mod 8), then the lanes are added pairwise (l and l + 4, then
// l + 2, then l + 1). Each lane is its own chain, so vectors of any width
// give the same bits: GCC's eight-lane type runs as one AVX-512 vector, two
// AVX2 ones or four SSE2 ones.
typedef double EightLanes __attribute__((vector_size(64)));
// Columns of B sharing one pass over a row of A.
constexpr arma::uword kColumns = 4;

// By reference: a vector returned by value would change the ABI without
// AVX-512.
inline void load_lanes(EightLanes& to, const double* from) {
  std::memcpy(&to, from, sizeof to);
}

// out[c] = Σ_k a_k b_c[k] for `Count` columns b_c (in double); inlined into
// fixed_order_group's copies.
template <arma::uword Count>
inline __attribute__((always_inline)) void fixed_order_dots(const double* a, const double* const* b,
                                                            arma::uword p, double* out) {
  EightLanes lanes[Count] = {};
  arma::uword k = 0;
  for (; k + 8 <= p; k += 8) {
    EightLanes a_k, b_k;
    load_lanes(a_k, a + k);
    for (arma::uword c = 0; c < Count; ++c) {
      load_lanes(b_k, b[c] + k);
      lanes[c] += a_k * b_k;
    }
  }
  for (arma::uword l = 0; k < p; ++k, ++l)
    for (arma::uword c = 0; c < Count; ++c) lanes[c][l] += a[k] * b[c][k];
  for (arma::uword c = 0; c < Count; ++c) {
    const EightLanes& s = lanes[c];
    out[c] = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
  }
}

// Columns [first, first + count) of C = A B from the rows of A (the
// columns of At, p×rows) and B's columns b[0 … count−1] in double.
KRRDISTILL_VECTOR_COPIES void fixed_order_group(const arma::mat& At, const double* const* b,
                                                arma::uword count, arma::mat& C,
                                                arma::uword first) {
  const arma::uword p = At.n_rows;
  double out[kColumns];
  for (arma::uword i = 0; i < At.n_cols; ++i) {
    if (count == kColumns)
      fixed_order_dots<kColumns>(At.colptr(i), b, p, out);
    else
      for (arma::uword c = 0; c < count; ++c) fixed_order_dots<1>(At.colptr(i), b + c, p, out + c);
    for (arma::uword c = 0; c < count; ++c) C(i, first + c) = out[c];
  }
}

template <typename T>
arma::mat fixed_order_product(const arma::mat& A, const arma::Mat<T>& B) {
  if (A.n_cols != B.n_rows) throw Error("product: inner dimensions do not match");
  const arma::uword p = A.n_cols, n = B.n_cols;
  // With no terms every entry is 0; with no rows or columns there is none
  // (and an empty matrix has no column pointers to take).
  if (p == 0 || A.n_rows == 0 || n == 0) return arma::mat(A.n_rows, n, arma::fill::zeros);
  arma::mat C(A.n_rows, n);
  const arma::mat At = A.t();  // each row of A contiguous
  const long groups = long((n + kColumns - 1) / kColumns);
#pragma omp parallel
  {
    std::vector<double> columns(kColumns * p);  // the group's columns in double
#pragma omp for schedule(static)
    for (long g = 0; g < groups; ++g) {
      const arma::uword first = arma::uword(g) * kColumns;
      const arma::uword count = std::min(kColumns, n - first);
      const double* b[kColumns];
      for (arma::uword c = 0; c < count; ++c) {
        if constexpr (std::is_same_v<T, double>) {
          b[c] = B.colptr(first + c);
        } else {
          const T* from = B.colptr(first + c);
          double* to = columns.data() + c * p;
          for (arma::uword k = 0; k < p; ++k) to[k] = double(from[k]);
          b[c] = to;
        }
      }
      fixed_order_group(At, b, count, C, first);
    }
  }
  return C;
}

}  // namespace

arma::mat multiply_fixed_order(const arma::mat& A, const arma::mat& B) {
  return fixed_order_product(A, B);
}

arma::mat multiply_fixed_order(const arma::mat& A, const arma::fmat& B) {
  return fixed_order_product(A, B);
}

}  // namespace krrdistill
