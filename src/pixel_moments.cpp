#include "krrdistill/pixel_moments.hpp"

#include <cblas.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"

namespace krrdistill {

namespace {

// Pixels are taken shifted, q − 128 ∈ [−128, 127]: a product is at most
// 128² = 2^14 in size, so 1024 of them sum to at most 2^24 and every partial
// sum of a block's float product is an integer a float holds exactly,
// whatever the BLAS's order. The shift is undone exactly in double.
constexpr arma::uword kExactBlock = 1024;
constexpr float kShift = 128.0f;
// Columns below which a block is not worth a thread of its own.
constexpr arma::uword kMinBlock = 64;

void check_moments(const PixelMoments& moments, const PixelMatrix& pixels, arma::uword count,
                   const arma::uvec& labels) {
  const arma::uword d = moments.gram.n_rows;
  if (pixels.n_rows != d) throw Error("pixel moments: the images do not match the moments");
  if (labels.n_elem != count) throw Error("pixel moments: one label a sample is needed");
  if (count > 0 && labels.max() >= moments.class_sums.n_cols)
    throw Error("pixel moments: a label is not below the number of classes");
  if (double(moments.count) + double(count) > kMaxMomentSamples)
    throw Error("too many samples for exact pixel moments");
  if (d > arma::uword(INT_MAX)) throw Error("matrix too large for 32-bit BLAS indices");
}

// Adds the pixel columns column_at(0 … count−1), in equal blocks of at most
// kExactBlock: each block shifted, converted to float and multiplied with
// one SSYRK on its own thread, then added to the double sums under a lock. The additions are of
// integers, exact in any order, so the threads' interleaving cannot change a bit.
template <typename ColumnAt>
void add_columns_float(PixelMoments& moments, const PixelMatrix& pixels, arma::uword count,
                       ColumnAt column_at, const arma::uvec& labels) {
  const arma::uword d = pixels.n_rows;
  // Blocks of equal size, at least one a thread when there are enough
  // columns, so that no thread waits for another's larger block.
  const arma::uword threads = arma::uword(omp_get_max_threads());
  arma::uword blocks = (count + kExactBlock - 1) / kExactBlock;
  if (count >= threads * kMinBlock) blocks = (blocks + threads - 1) / threads * threads;
  const arma::uword block_size = blocks == 0 ? 0 : (count + blocks - 1) / blocks;
#pragma omp parallel if (blocks > 1)
  {
    // Kept by each thread from call to call: a pass makes one call a chunk,
    // and fresh buffers would be fresh pages to fault in every time.
    thread_local arma::fmat block, product;
    thread_local arma::vec sums;
    sums.set_size(d);
    block.set_size(d, kExactBlock);
    product.set_size(d, d);
#pragma omp for schedule(dynamic, 1)
    for (long b = 0; b < long(blocks); ++b) {
      const arma::uword first = arma::uword(b) * block_size;
      if (first >= count) continue;
      const arma::uword size = std::min(block_size, count - first);
      sums.zeros();
      for (arma::uword j = 0; j < size; ++j) {
        const std::uint8_t* q = pixels.colptr(column_at(first + j));
        float* out = block.colptr(j);
        for (arma::uword i = 0; i < d; ++i) {
          out[i] = float(q[i]) - kShift;
          sums[i] += double(out[i]);
        }
      }
      cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, int(d), int(size), 1.0f, block.memptr(),
                  int(d), 0.0f, product.memptr(), int(d));
      // Σ q qᵀ = Σ x xᵀ + 128 (s 1ᵀ + 1 sᵀ) + 128² size, with x = q − 128
      // and s = Σ x: integers, exact in double.
      const double shift = kShift, shift_sq = double(kShift) * double(kShift) * double(size);
#pragma omp critical(krrdistill_pixel_moments)
      {
        for (arma::uword j = 0; j < d; ++j) {
          const float* from = product.colptr(j);
          double* to = moments.gram.colptr(j);
          for (arma::uword i = j; i < d; ++i)
            to[i] += double(from[i]) + (shift * (sums[i] + sums[j]) + shift_sq);
        }
        for (arma::uword j = 0; j < size; ++j) {
          const arma::uword c = labels[first + j];
          const float* q = block.colptr(j);
          double* to = moments.class_sums.colptr(c);
          for (arma::uword i = 0; i < d; ++i) to[i] += double(q[i]) + double(kShift);
          moments.class_counts[c] += 1;
        }
      }
    }
  }
}

// The int8 product's blocks of images. A sum of products q·(q − 128), each
// at most 255·128 in size, stays below 2^31 for up to 65,793 of them; 4096
// keeps the two 8-bit copies of a block at 3.2 MB each for Fashion-MNIST.
constexpr arma::uword kIntegerBlock = 4096;
// Rows of the product a GEMM call forms: the lower triangle is taken in
// panels of about this many rows, each from its diagonal on, which skips
// most of the upper triangle's work (a GEMM has no symmetric form).
constexpr arma::uword kPanelRows = 200;

// Adds the pixel columns column_at(0 … count−1) in blocks of kIntegerBlock
// images: left holds q (u8), right holds [q − 128; 1; one-hot label] (s8), so
// one product C = leftᵀ right gives, all in 32-bit integers,
//   C(j, i) = Σ q_j (q_i − 128),  C(j, d) = Σ q_j,  C(j, d + 1 + c) = Σ_{y=c} q_j,
// and Σ q_i q_j = C(j, i) + 128 C(j, d). The product's panels run on the
// OpenMP threads (below); every sum is of integers, so the bits are the same
// for any thread count.
template <typename ColumnAt>
void add_columns_int8(PixelMoments& moments, const PixelMatrix& pixels, arma::uword count,
                      ColumnAt column_at, const arma::uvec& labels) {
  const arma::uword d = pixels.n_rows, k = moments.class_sums.n_cols, width = d + 1 + k;
  const arma::uword panels = (d + kPanelRows - 1) / kPanelRows;
  const arma::uword panel_rows = panels == 0 ? 0 : (d + panels - 1) / panels;
  if (count == 0) return;
  const arma::uword threads = arma::uword(omp_get_max_threads());
  // Kept from call to call, as the float product's: a pass makes a call a
  // chunk, and fresh buffers would be fresh pages to fault in every time. The
  // OpenMP threads reach them through the pointers below (a thread_local name
  // is each thread's own buffer).
  thread_local std::vector<std::uint8_t> left_buffer;
  thread_local std::vector<std::int8_t> right_buffer;
  thread_local std::vector<std::int32_t> product_buffer;
  const arma::uword block = std::min(count, kIntegerBlock);
  if (left_buffer.size() < d * block) left_buffer.resize(d * block);
  if (right_buffer.size() < width * block) right_buffer.resize(width * block);
  if (product_buffer.size() < d * width) product_buffer.resize(d * width);
  std::uint8_t* const left = left_buffer.data();
  std::int8_t* const right = right_buffer.data();
  std::int32_t* const product = product_buffer.data();
  const std::int32_t no_offset = 0;
  for (arma::uword first = 0; first < count; first += kIntegerBlock) {
    const arma::uword size = std::min(kIntegerBlock, count - first);
#pragma omp parallel for schedule(static)
    for (long j = 0; j < long(size); ++j) {
      const std::uint8_t* q = pixels.colptr(column_at(first + arma::uword(j)));
      std::memcpy(left + arma::uword(j) * d, q, d);
      std::int8_t* x = right + arma::uword(j) * width;
      for (arma::uword i = 0; i < d; ++i) x[i] = std::int8_t(int(q[i]) - 128);
      std::fill(x + d + 1, x + width, std::int8_t(0));
      x[d] = 1;
      x[d + 1 + labels[first + arma::uword(j)]] = 1;
    }
    // Row-major, as oneDNN's GEMM takes it: left is size×d, right size×width,
    // C d×width; each panel forms rows [r, r + m) from column r on. With two
    // panels a thread or more, each thread forms whole panels, widest first
    // (oneDNN, built on OpenMP as Debian's is, runs on one thread inside a
    // parallel region): on two threads the four panels of Fashion-MNIST
    // split evenly, and the pass took 0.052 s instead of 0.058 s with every
    // panel spread over both threads, whose splits left one waiting. With
    // fewer panels, oneDNN spreads each over the threads.
    std::atomic<int> failed{0};
#pragma omp parallel for schedule(dynamic, 1) if (panels >= 2 * threads)
    for (long panel = 0; panel < long(panels); ++panel) {
      const arma::uword r = arma::uword(panel) * panel_rows;
      const arma::uword m = std::min(panel_rows, d - r);
      const dnnl_status_t status =
          dnnl_gemm_u8s8s32('T', 'N', 'F', dnnl_dim_t(m), dnnl_dim_t(width - r), dnnl_dim_t(size),
                            1.0f, left + r, dnnl_dim_t(d), 0, right + r, dnnl_dim_t(width), 0, 0.0f,
                            product + r * width + r, dnnl_dim_t(width), &no_offset);
      if (status != dnnl_success) failed = int(status);
    }
    if (failed != 0)
      throw Error("pixel moments: oneDNN's integer product failed (status " +
                  std::to_string(int(failed)) + ")");
#pragma omp parallel for schedule(dynamic, 16)
    for (long jj = 0; jj < long(d); ++jj) {
      const arma::uword j = arma::uword(jj);
      const std::int32_t* row = product + j * width;
      const double shift = 128.0 * double(row[d]);
      double* to = moments.gram.colptr(j);
      for (arma::uword i = j; i < d; ++i) to[i] += double(row[i]) + shift;
      for (arma::uword c = 0; c < k; ++c) moments.class_sums(j, c) += double(row[d + 1 + c]);
    }
    for (arma::uword j = 0; j < size; ++j) moments.class_counts[labels[first + j]] += 1;
  }
}

template <typename ColumnAt>
void add_columns(PixelMoments& moments, const PixelMatrix& pixels, arma::uword count,
                 ColumnAt column_at, const arma::uvec& labels, MomentsProduct product) {
  check_moments(moments, pixels, count, labels);
  if (product == MomentsProduct::int8) {
    if (!integer_product_is_exact())
      throw Error("pixel moments: the int8 product is exact only on a CPU with VNNI");
    add_columns_int8(moments, pixels, count, column_at, labels);
  } else {
    add_columns_float(moments, pixels, count, column_at, labels);
  }
  moments.count += count;
}

}  // namespace

bool integer_product_is_exact() {
  static const bool exact = [] {
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return isa == dnnl_cpu_isa_avx2_vnni ||
           (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni;
  }();
  return exact;
}

MomentsProduct fastest_moments_product() {
  return integer_product_is_exact() ? MomentsProduct::int8 : MomentsProduct::float32;
}

void prepare_integer_product() {
  if (fastest_moments_product() != MomentsProduct::int8) return;
  // A 1×1 product over one image: the kernels are the process's, built once
  // whatever the size. A failure shows again at the first real product.
  const std::uint8_t left = 0;
  const std::int8_t right = 0;
  std::int32_t product = 0;
  const std::int32_t no_offset = 0;
  dnnl_gemm_u8s8s32('T', 'N', 'F', 1, 1, 1, 1.0f, &left, 1, 0, &right, 1, 0, 0.0f, &product, 1,
                    &no_offset);
}

double pixel_moments_buffer_bytes(arma::uword d, arma::uword k, MomentsProduct product) {
  const double dd = double(d);
  if (product == MomentsProduct::int8)
    return double(kIntegerBlock) * (2.0 * dd + 1.0 + double(k)) + 4.0 * dd * (dd + 1.0 + double(k));
  // Each thread's float block and d×d float product.
  return 4.0 * double(omp_get_max_threads()) * (dd * dd + double(kExactBlock) * dd);
}

PixelMoments zero_pixel_moments(arma::uword d, arma::uword k) {
  return PixelMoments{arma::mat(d, d, arma::fill::zeros), arma::mat(d, k, arma::fill::zeros),
                      arma::vec(k, arma::fill::zeros), 0};
}

void add_pixel_moments(PixelMoments& moments, const PixelMatrix& pixels, arma::uword column,
                       arma::uword count, const arma::uvec& labels, MomentsProduct product) {
  if (column + count > pixels.n_cols) throw Error("pixel moments: columns out of range");
  add_columns(
      moments, pixels, count, [column](arma::uword j) { return column + j; }, labels, product);
}

void add_pixel_moments(PixelMoments& moments, const PixelMatrix& pixels, const arma::uvec& columns,
                       const arma::uvec& labels, MomentsProduct product) {
  if (!columns.is_empty() && columns.max() >= pixels.n_cols)
    throw Error("pixel moments: columns out of range");
  add_columns(
      moments, pixels, columns.n_elem, [&columns](arma::uword j) { return columns[j]; }, labels,
      product);
}

void allreduce_sum(const Communicator& comm, PixelMoments& moments) {
  allreduce_sum(comm, moments.gram);
  allreduce_sum(comm, moments.class_sums);
  allreduce_sum(comm, moments.class_counts);
  arma::uvec count{moments.count};
  allreduce_sum(comm, count);
  moments.count = count[0];
}

PixelMoments minus(const PixelMoments& all, const PixelMoments& part) {
  if (part.count > all.count || part.gram.n_rows != all.gram.n_rows ||
      part.class_sums.n_cols != all.class_sums.n_cols)
    throw Error("pixel moments: the part does not belong to the whole");
  return PixelMoments{all.gram - part.gram, all.class_sums - part.class_sums,
                      all.class_counts - part.class_counts, all.count - part.count};
}

PixelMoments plus(const PixelMoments& a, const PixelMoments& b) {
  if (a.gram.n_rows != b.gram.n_rows || a.class_sums.n_cols != b.class_sums.n_cols)
    throw Error("pixel moments: the two do not have the same shape");
  if (double(a.count) + double(b.count) > kMaxMomentSamples)
    throw Error("too many samples for exact pixel moments");
  return PixelMoments{a.gram + b.gram, a.class_sums + b.class_sums, a.class_counts + b.class_counts,
                      a.count + b.count};
}

Statistics linear_statistics(const Preprocessor& pre, const PixelMoments& moments) {
  const arma::uword d = pre.shape.size(), k = moments.class_sums.n_cols;
  const arma::uword channel_size = pre.shape.channel_size();
  if (moments.gram.n_rows != d) throw Error("pixel moments: the preprocessor does not match");
  // x_i = a_i q_i + b_i, in extended precision so that the sums below,
  // whose terms partly cancel, lose nothing before the one rounding.
  std::vector<long double> a(d), b(d), s(d);
  for (arma::uword i = 0; i < d; ++i) {
    const arma::uword c = i / channel_size;
    a[i] = 1.0L / (255.0L * (long double)pre.channel_std[c]);
    b[i] = -(long double)pre.channel_mean[c] / (long double)pre.channel_std[c];
    long double total = 0;
    for (arma::uword c2 = 0; c2 < k; ++c2) total += moments.class_sums(i, c2);
    s[i] = total;
  }
  const long double n = (long double)moments.count;
  Statistics stats{arma::mat(d, d), arma::mat(k, d), moments.count};
#pragma omp parallel for schedule(static)
  for (arma::uword j = 0; j < d; ++j)
    for (arma::uword i = j; i < d; ++i) {
      const long double g = a[i] * a[j] * (long double)moments.gram(i, j) + a[i] * s[i] * b[j] +
                            b[i] * s[j] * a[j] + n * b[i] * b[j];
      stats.G(i, j) = stats.G(j, i) = double(g);
    }
  for (arma::uword i = 0; i < d; ++i)
    for (arma::uword c = 0; c < k; ++c)
      stats.B(c, i) = double(a[i] * (long double)moments.class_sums(i, c) +
                             (long double)moments.class_counts[c] * b[i]);
  if (pre.zca) {
    // Φ = Z x with Z symmetric: G = Z G Z, B = B Z.
    stats.G = arma::symmatl(multiply(pre.zca_whiten, multiply(stats.G, pre.zca_whiten)));
    stats.B = multiply(stats.B, pre.zca_whiten);
  }
  return stats;
}

Preprocessor preprocessor_from_moments(const ImageShape& shape, const PixelMoments& moments,
                                       bool zca, double zca_reg_fraction,
                                       const Communicator& comm) {
  const arma::uword d = shape.size(), channel_size = shape.channel_size();
  if (moments.gram.n_rows != d) throw Error("pixel moments: the image shape does not match");
  if (moments.count == 0) throw Error("no training images");
  if (zca && (!(zca_reg_fraction > 0) || !std::isfinite(zca_reg_fraction)))
    throw Error("--zca-reg must be a positive number");
  // The moments hold integers below 2^53: exact as uint64, summed in 128 bits.
  std::vector<ChannelSums> sums(shape.channels);
  for (arma::uword i = 0; i < d; ++i) {
    ChannelSums& s = sums[i / channel_size];
    s.count += moments.count;
    for (arma::uword c = 0; c < moments.class_sums.n_cols; ++c)
      s.sum += std::uint64_t(moments.class_sums(i, c));
    s.square_sum += std::uint64_t(moments.gram(i, i));
  }
  Preprocessor pre;
  pre.shape = shape;
  set_channel_moments(pre, sums);
  if (!zca) return pre;

  // S = (1/n) Σ x xᵀ of the standardised images = V diag(e) Vᵀ.
  if (comm.root()) {
    const arma::mat second_moment = linear_statistics(pre, moments).G / double(moments.count);
    arma::vec e;
    arma::mat V;
    if (!arma::eig_sym(e, V, second_moment, "dc")) throw Error("ZCA eigendecomposition failed");
    e.clamp(0.0, arma::datum::inf);
    pre.zca_reg = zca_reg_fraction * arma::mean(e);
    const arma::vec root = arma::sqrt(e + pre.zca_reg);
    pre.zca_whiten = V * arma::diagmat(1.0 / root) * V.t();
    pre.zca_unwhiten = V * arma::diagmat(root) * V.t();
  }
  broadcast(comm, pre.zca_reg);
  broadcast(comm, pre.zca_whiten);
  broadcast(comm, pre.zca_unwhiten);
  pre.zca = true;
  return pre;
}

}  // namespace krrdistill
