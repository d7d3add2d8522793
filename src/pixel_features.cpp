#include "krrdistill/pixel_features.hpp"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>

#include "krrdistill/error.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "vector_copies.hpp"

namespace krrdistill {

namespace {

// Four signed bytes hold the integers up to 127·(2^24 + 2^16 + 2^8 + 1).
constexpr int kDigits = 4;
constexpr double kLargestInteger = 127.0 * (16777216.0 + 65536.0 + 256.0 + 1.0);
// A byte's sum over d pixels is at most 128·255·d in size: within 32 bits
// up to this many pixels; put back together, 2^31·255·d stays below 2^53
// (exact in double) up to 16,448.
constexpr arma::uword kMostPixels = 16448;
// Images per integer product: a thread's 32-bit sums (4·width each) stay
// within its cache.
constexpr arma::uword kBlock = 128;

// The first layer: RFF's A with its offset b, or an FCNN's M_1.
const arma::mat& first_layer(const FeatureMap& map) {
  if (const auto* rff = std::get_if<RandomFourierMap>(&map)) return rff->A;
  const auto* fcnn = std::get_if<FcnnMap>(&map);
  if (fcnn == nullptr || fcnn->layers.empty())
    throw Error("pixel features: the map has no first layer");
  return fcnn->layers[0];
}

}  // namespace

namespace detail {

// By Horner's rule in double: each step's exact value is an integer below
// 2^53 (|s_t| <= 128·255·d, and the whole below 2^53 up to kMostPixels),
// so each step is exact and the result is the 64-bit integer sum's, in
// vector registers (AVX2 converts 32-bit integers to double, not 64-bit).
KRRDISTILL_VECTOR_COPIES void join_digit_sums(const std::int32_t* s, arma::uword width,
                                              const double* scale, const double* offset,
                                              float* out) {
  for (arma::uword r = 0; r < width; ++r) {
    double value = double(s[(kDigits - 1) * width + r]);
    for (int t = kDigits - 2; t >= 0; --t)
      value = value * 256.0 + double(s[arma::uword(t) * width + r]);
    out[r] = float(scale[r] * value + offset[r]);
  }
}

}  // namespace detail

bool PixelFeatures::available(const FeatureMap& map, arma::uword d) {
  if (std::holds_alternative<LinearMap>(map)) return false;
  if (const auto* fcnn = std::get_if<FcnnMap>(&map); fcnn != nullptr && fcnn->layers.empty())
    return false;
  return d > 0 && d <= kMostPixels && integer_product_is_exact();
}

double PixelFeatures::buffer_bytes(arma::uword d, arma::uword width) {
  if (d == 0 || d > kMostPixels || !integer_product_is_exact()) return 0.0;
  const double w = double(width);
  return 8.0 * w * double(d) + double(kDigits) * w * double(d) +
         4.0 * double(omp_get_max_threads()) * double(kBlock * kDigits) * w;
}

PixelFeatures::PixelFeatures(const FeatureMap& map, const Preprocessor& pre) : map_(&map) {
  const arma::uword d = pre.shape.size();
  if (!available(map, d)) throw Error("pixel features: not available for this map and CPU");
  const arma::mat& M = first_layer(map);
  const arma::mat rows = compose_with_inputs(pre, M, offset_);  // row r of Ã as column r
  if (const auto* rff = std::get_if<RandomFourierMap>(&map)) offset_ += rff->b;
  d_ = d;
  width_ = M.n_rows;
  scale_.set_size(width_);
  digits_.assign(d_ * kDigits * width_, 0);
  if (!rows.is_finite()) throw Error("pixel features: the first layer is not finite");
  const long outputs = long(width_);
#pragma omp parallel for schedule(static)
  for (long r = 0; r < outputs; ++r) {
    const double* row = rows.colptr(arma::uword(r));
    double largest = 0.0;
    for (arma::uword k = 0; k < d_; ++k) largest = std::max(largest, std::abs(row[k]));
    scale_[r] = largest / kLargestInteger;
    for (arma::uword k = 0; k < d_ && largest > 0; ++k) {
      // |row_k / scale| ≤ kLargestInteger up to a rounding: clamped.
      long long q = std::llround(std::clamp(row[k] / scale_[r], -kLargestInteger, kLargestInteger));
      for (int t = 0; t < kDigits; ++t) {  // balanced base-256 digits, lowest first
        const long long digit = ((q % 256) + 256 + 128) % 256 - 128;
        digits_[k * kDigits * width_ + arma::uword(t) * width_ + arma::uword(r)] =
            std::int8_t(digit);
        q = (q - digit) / 256;
      }
    }
  }
}

void PixelFeatures::first_layer_into(const PixelMatrix& pixels, arma::uword column,
                                     arma::uword count, arma::fmat& H) const {
  if (pixels.n_rows != d_) throw Error("pixel features: the images do not match the map");
  if (column + count > pixels.n_cols) throw Error("pixel features: columns out of range");
  H.set_size(width_, count);
  // Allocated here, on the calling thread: memory a worker thread takes
  // comes from an arena of its own, which the rest of the run cannot reuse.
  if (thread_sums_.size() < arma::uword(omp_get_max_threads()))
    thread_sums_.resize(arma::uword(omp_get_max_threads()));
  for (std::vector<std::int32_t>& sums : thread_sums_)
    if (sums.size() < kBlock * kDigits * width_) sums.resize(kBlock * kDigits * width_);
  const long blocks = long((count + kBlock - 1) / kBlock);
  const dnnl_dim_t wide = dnnl_dim_t(kDigits * width_);
  std::atomic<int> failed{0};
  // Each block one single-threaded product on its thread: the integer sums
  // are exact, so nothing depends on which thread forms which block.
#pragma omp parallel
  {
    // Each thread's own, kept from call to call (a pass makes one a chunk):
    // fresh buffers would be fresh pages to fault in and clear every time.
    std::vector<std::int32_t>& sums = thread_sums_[arma::uword(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
    for (long b = 0; b < blocks; ++b) {
      const arma::uword first = arma::uword(b) * kBlock, size = std::min(kBlock, count - first);
      const std::int32_t no_offset = 0;
      // Row-major: the block's images (size×d bytes, as stored) times the
      // digits (d×4w) into one row of 4w sums an image.
      const dnnl_status_t status =
          dnnl_gemm_u8s8s32('N', 'N', 'F', dnnl_dim_t(size), wide, dnnl_dim_t(d_), 1.0f,
                            pixels.colptr(column + first), dnnl_dim_t(d_), 0, digits_.data(), wide,
                            0, 0.0f, sums.data(), wide, &no_offset);
      if (status != dnnl_success) {
        failed = int(status);
        continue;
      }
      for (arma::uword j = 0; j < size; ++j)
        detail::join_digit_sums(sums.data() + j * kDigits * width_, width_, scale_.memptr(),
                                offset_.memptr(), H.colptr(first + j));
    }
  }
  if (failed != 0)
    throw Error("pixel features: oneDNN's integer product failed (status " +
                std::to_string(int(failed)) + ")");
}

void PixelFeatures::features_into(const PixelMatrix& pixels, arma::uword column, arma::uword count,
                                  arma::fmat& Phi) const {
  if (Phi.n_rows != feature_dim(*map_) || Phi.n_cols != count)
    throw Error("pixel features: the destination has the wrong size");
  // RFF and a one-layer FCNN work in Phi itself.
  const bool in_place = Phi.n_rows == width_ && (std::holds_alternative<RandomFourierMap>(*map_) ||
                                                 std::get<FcnnMap>(*map_).layers.size() == 1);
  if (in_place) {
    first_layer_into(pixels, column, count, Phi);
    features_from_first_layer(*map_, Phi, Phi);
  } else {
    arma::fmat H;
    first_layer_into(pixels, column, count, H);
    features_from_first_layer(*map_, H, Phi);
  }
}

}  // namespace krrdistill
