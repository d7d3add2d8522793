// The threaded products (products.hpp): equal to Armadillo's to rounding,
// and bit for bit the same on one thread and on several; and which OpenBLAS
// kernels the programs ask for (threads.hpp).
#define BOOST_TEST_MODULE products
#include <boost/test/unit_test.hpp>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/threads.hpp"
#include "krrdistill/tuned_environment.hpp"

using namespace krrdistill;

namespace {

arma::mat random_matrix(arma::uword rows, arma::uword cols, std::uint64_t seed) {
  std::mt19937_64 rng = make_rng(seed, RngStream::noise_init);
  return gaussian_matrix(rows, cols, 1.0, rng);
}

double relative_difference(const arma::mat& a, const arma::mat& b) {
  return arma::norm(a - b, "fro") / arma::norm(b, "fro");
}

bool same_bits(const arma::mat& a, const arma::mat& b) {
  return arma::size(a) == arma::size(b) && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

// Sizes below, at and across the 512 block, with ragged edges.
BOOST_AUTO_TEST_CASE(gram_matches_armadillo_is_symmetric_and_thread_count_free) {
  for (arma::uword p : {1u, 7u, 512u, 513u, 1100u}) {
    const arma::mat Phi = random_matrix(p, 300, p);
    arma::mat start = random_matrix(p, p, p + 1);
    start = start * start.t();  // a symmetric G to add into
    const arma::mat expected = start + Phi * Phi.t();
    set_threads(1);
    arma::mat one = start;
    add_gram(one, Phi);
    set_threads(2);
    arma::mat two = start;
    add_gram(two, Phi);
    BOOST_TEST_CONTEXT("p = " << p) {
      BOOST_TEST(relative_difference(two, expected) < 1e-13);
      BOOST_TEST(same_bits(two, two.t()));
      BOOST_TEST(same_bits(one, two));
    }
  }
  set_threads(0);
}

// Into a compensated sum's lower triangle, chunk after chunk, then mirrored
// once: the same bits as each chunk's Gram formed in a zero matrix and then
// added entry by entry, on one thread and on two; double and float
// features, one tile and several. Before the mirror the upper triangle is
// untouched.
template <typename Features>
void check_compensated_gram() {
  for (arma::uword p : {1u, 7u, 513u, 1100u}) {
    CompensatedSum reference = compensated_zeros(p, p), one = reference, two = reference;
    for (std::uint64_t chunk = 0; chunk < 3; ++chunk) {
      const Features Phi =
          arma::conv_to<Features>::from(random_matrix(p, 200 + 500 * chunk, p + chunk) + 2.0);
      arma::mat G(p, p, arma::fill::zeros);
      add_gram(G, Phi);
      add(reference, G);
      set_threads(1);
      add_gram_lower(one, Phi);
      set_threads(2);
      add_gram_lower(two, Phi);
    }
    BOOST_TEST_CONTEXT("p = " << p) {
      for (const CompensatedSum* sum : {&one, &two})
        for (arma::uword part = 0; part < 2; ++part) {
          const arma::mat half = arma::reshape(sum->pairs.row(part), p, p);
          BOOST_TEST(arma::all(arma::vectorise(arma::trimatu(half, 1)) == 0));
        }
      mirror_lower(one);
      mirror_lower(two);
      BOOST_TEST(same_bits(one.pairs, reference.pairs));
      BOOST_TEST(same_bits(two.pairs, reference.pairs));
      const arma::mat total = value(two);
      BOOST_TEST(same_bits(total, total.t()));
    }
  }
  set_threads(0);
}

BOOST_AUTO_TEST_CASE(compensated_gram_equals_the_gram_added_entry_by_entry) {
  check_compensated_gram<arma::mat>();
  check_compensated_gram<arma::fmat>();
}

// value and subtract_value, entry by entry in place, round high + low once:
// the bits of the pairs' sum in double, then of the difference.
BOOST_AUTO_TEST_CASE(compensated_value_and_its_subtraction_in_place) {
  CompensatedSum sum = compensated_zeros(5, 3);
  const arma::mat big = random_matrix(5, 3, 1) * 1e8, small = random_matrix(5, 3, 2) * 1e-9;
  add(sum, big);
  for (int i = 0; i < 1000; ++i) add(sum, small);  // each below big's rounding
  const arma::rowvec high = sum.pairs.row(0), low = sum.pairs.row(1);
  arma::mat expected(5, 3);
  for (arma::uword i = 0; i < expected.n_elem; ++i) expected[i] = high[i] + low[i];
  BOOST_TEST(arma::any(arma::vectorise(expected) != high.t()));  // the low parts count
  BOOST_TEST(same_bits(value(sum), expected));
  arma::mat from = random_matrix(5, 3, 3) * 1e8;
  const arma::mat difference = from - expected;
  subtract_value(from, sum);
  BOOST_TEST(same_bits(from, difference));
  arma::mat wrong(3, 5);
  BOOST_CHECK_THROW(subtract_value(wrong, sum), Error);
}

// products.hpp's promise that the certificate's pieces rely on: over a run
// of whole kProductBlock-wide blocks a product makes the tiles (so the bits)
// of one over all of them; a run that cuts across blocks need not.
BOOST_AUTO_TEST_CASE(products_over_whole_blocks_keep_their_bits) {
  const arma::mat A = random_matrix(20, 2000, 11), B = random_matrix(2000, 3 * kProductBlock, 12);
  const arma::mat whole = multiply(A, B);
  const arma::uword first = kProductBlock, count = 2 * kProductBlock;
  BOOST_TEST(same_bits(multiply(A, arma::mat(B.cols(first, first + count - 1))),
                       arma::mat(whole.cols(first, first + count - 1))));
  const arma::fmat Af = arma::conv_to<arma::fmat>::from(A);
  const arma::fmat Bf = arma::conv_to<arma::fmat>::from(B);
  const arma::fmat whole_f = multiply(Af, Bf);
  const arma::fmat part_f = multiply(Af, arma::fmat(Bf.cols(0, kProductBlock - 1)));
  BOOST_TEST(arma::all(arma::vectorise(part_f == whole_f.cols(0, kProductBlock - 1))));
}

BOOST_AUTO_TEST_CASE(products_match_armadillo_and_thread_count_free) {
  struct Shape {
    arma::uword rows, inner, cols;
  };
  // Short results over many columns (30 and 128 rows) go as their
  // transposes (products.cpp); 129 rows do not.
  for (const Shape s :
       {Shape{1, 1, 1}, Shape{3, 5, 2}, Shape{600, 40, 1030}, Shape{70, 2000, 9},
        Shape{1025, 300, 513}, Shape{30, 784, 1100}, Shape{128, 50, 700}, Shape{129, 50, 700}}) {
    const arma::mat A = random_matrix(s.rows, s.inner, 3);
    const arma::mat At = A.t();
    const arma::mat B = random_matrix(s.inner, s.cols, 4);
    const arma::mat expected = A * B;
    set_threads(1);
    const arma::mat one = multiply(A, B), one_t = multiply_transposed(At, B);
    set_threads(2);
    const arma::mat two = multiply(A, B), two_t = multiply_transposed(At, B);
    BOOST_TEST_CONTEXT(s.rows << "x" << s.inner << " * " << s.inner << "x" << s.cols) {
      BOOST_TEST(relative_difference(two, expected) < 1e-13);
      BOOST_TEST(relative_difference(two_t, expected) < 1e-13);
      BOOST_TEST(same_bits(one, two));
      BOOST_TEST(same_bits(one_t, two_t));
    }
  }
  set_threads(0);
}

BOOST_AUTO_TEST_CASE(empty_and_mismatched_shapes) {
  BOOST_TEST(multiply(arma::mat(3, 0), arma::mat(0, 4)).is_zero());
  BOOST_TEST(arma::size(multiply(arma::mat(3, 0), arma::mat(0, 4))) == arma::size(3, 4));
  BOOST_TEST(multiply(arma::mat(0, 2), arma::mat(2, 5)).n_rows == 0u);
  BOOST_CHECK_THROW(multiply(arma::mat(3, 2), arma::mat(3, 2)), Error);
  BOOST_CHECK_THROW(multiply_transposed(arma::mat(3, 2), arma::mat(2, 2)), Error);
  arma::mat G(4, 4, arma::fill::zeros);
  BOOST_CHECK_THROW(add_gram(G, arma::mat(3, 10)), Error);
  add_gram(G, arma::mat(4, 0));
  BOOST_TEST(G.is_zero());
}

// OpenBLAS's own choice stands unless it predates AVX2 on a CPU that has it.
BOOST_AUTO_TEST_CASE(blas_kernels_are_upgraded_only_from_pre_avx2_ones) {
  BOOST_TEST(blas_core_upgrade("Prescott", true, true) == "SkylakeX");
  BOOST_TEST(blas_core_upgrade("Prescott", true, false) == "Haswell");
  BOOST_TEST(blas_core_upgrade("Sandybridge", true, false) == "Haswell");
  BOOST_TEST(blas_core_upgrade("prescott", false, false) == "");
  BOOST_TEST(blas_core_upgrade("Haswell", true, true) == "");
  BOOST_TEST(blas_core_upgrade("Zen", true, false) == "");
  BOOST_TEST(blas_core_upgrade("SkylakeX", true, true) == "");
  BOOST_TEST(blas_core_upgrade("Cooperlake", true, true) == "");
}

// The restart's malloc setting reaches the memory: a large matrix lies in a
// mapping that asks for huge pages (smaps' THPeligible, which does not
// depend on whether the kernel had one free). Only where the kernel gives
// them to memory that asks, and with glibc's malloc under our setting (a
// user's own GLIBC_TUNABLES is kept; AddressSanitizer replaces malloc).
BOOST_AUTO_TEST_CASE(large_matrices_ask_for_huge_pages_where_the_kernel_gives_them) {
  std::ifstream policy("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(policy, modes);
  const char* tunables = std::getenv("GLIBC_TUNABLES");
#if defined(__SANITIZE_ADDRESS__)
  const bool glibc_malloc = false;
#else
  const bool glibc_malloc = true;
#endif
  if (modes.find("[madvise]") == std::string::npos || tunables == nullptr ||
      std::string(tunables) != kMallocHugePages || !glibc_malloc) {
    BOOST_TEST_MESSAGE("no huge pages to check here");
    return;
  }
  arma::vec big(std::size_t(8) << 20, arma::fill::ones);  // 64 MiB
  const auto at = reinterpret_cast<std::uintptr_t>(big.memptr());
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  int eligible = -1;
  long huge_kib = -1;
  while (std::getline(smaps, line)) {
    std::uintptr_t begin = 0, end = 0;
    // A mapping's header starts "begin-end perms"; its fields "Name:".
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " ", &begin, &end) == 2 &&
        line.find(' ') < line.find(':'))
      inside = begin <= at && at < end;
    else if (inside && line.rfind("THPeligible:", 0) == 0)
      eligible = std::stoi(line.substr(12));
    else if (inside && line.rfind("AnonHugePages:", 0) == 0)
      huge_kib = std::stol(line.substr(14));
  }
  if (eligible < 0) {
    BOOST_TEST_MESSAGE("smaps has no THPeligible field here");
    return;
  }
  BOOST_TEST(eligible == 1);
  BOOST_TEST_MESSAGE("the matrix's mapping holds " << huge_kib << " KiB of huge pages");
  BOOST_TEST(arma::accu(big) == double(big.n_elem));
}

// The single-precision Gram: the float products summed in double per block
// of 1024 samples. Sample counts across that block; the exact Gram of the
// same float values is the reference, and a Gram summed in float over all
// 3000 samples must be the worse one (so that the blocks are really kept).
BOOST_AUTO_TEST_CASE(single_gram_matches_the_double_product_and_thread_count_free) {
  for (arma::uword p : {1u, 7u, 513u}) {
    for (arma::uword n : {1u, 1024u, 3000u}) {
      const arma::fmat Phi = arma::conv_to<arma::fmat>::from(random_matrix(p, n, p + n) + 3.0);
      const arma::mat exact_values = arma::conv_to<arma::mat>::from(Phi);
      arma::mat start = random_matrix(p, p, p + 1);
      start = start * start.t();
      const arma::mat expected = start + exact_values * exact_values.t();
      set_threads(1);
      arma::mat one = start;
      add_gram(one, Phi);
      set_threads(2);
      arma::mat two = start;
      add_gram(two, Phi);
      BOOST_TEST_CONTEXT("p = " << p << ", n = " << n) {
        BOOST_TEST(relative_difference(two, expected) < 2e-7);

        BOOST_TEST(same_bits(one, two));
        if (p == 513 && n == 3000) {
          const arma::mat all_in_float =
              start + arma::conv_to<arma::mat>::from(arma::fmat(Phi * Phi.t()));
          BOOST_TEST(relative_difference(two - start, expected - start) <
                     relative_difference(all_in_float - start, expected - start));
        }
      }
    }
  }
  set_threads(0);
}

BOOST_AUTO_TEST_CASE(single_product_matches_armadillo_and_thread_count_free) {
  const arma::fmat A = arma::conv_to<arma::fmat>::from(random_matrix(1025, 300, 5));
  const arma::fmat B = arma::conv_to<arma::fmat>::from(random_matrix(300, 513, 6));
  const arma::mat expected = arma::conv_to<arma::mat>::from(A) * arma::conv_to<arma::mat>::from(B);
  set_threads(1);
  const arma::fmat one = multiply(A, B);
  set_threads(2);
  const arma::fmat two = multiply(A, B);
  const arma::fmat At = A.t();
  set_threads(1);
  const arma::fmat one_t = multiply_transposed(At, B);
  const arma::fmat one_small = multiply_transposed(At, B, 100);
  set_threads(2);
  const arma::fmat two_t = multiply_transposed(At, B);
  const arma::fmat two_small = multiply_transposed(At, B, 100);
  set_threads(0);
  BOOST_TEST(relative_difference(arma::conv_to<arma::mat>::from(two), expected) < 1e-6);
  BOOST_TEST(std::equal(one.begin(), one.end(), two.begin()));
  BOOST_TEST(relative_difference(arma::conv_to<arma::mat>::from(two_t), expected) < 1e-6);
  BOOST_TEST(std::equal(one_t.begin(), one_t.end(), two_t.begin()));
  // Blocks of 100: 11 × 6 near-equal tiles.
  BOOST_TEST(relative_difference(arma::conv_to<arma::mat>::from(two_small), expected) < 1e-6);
  BOOST_TEST(std::equal(one_small.begin(), one_small.end(), two_small.begin()));
  BOOST_CHECK_THROW(multiply_transposed(At, B, 0), Error);
}

namespace {

// One entry of the fixed order, written out one term at a time: lane l sums
// the terms k ≡ l (mod 8) in order, then lanes l and l + 4, then the two
// halves' pairs (0 with 2, 1 with 3), then the two sums. No vector code, so
// a change of order in multiply_fixed_order (or a fused multiply-add in
// one of its copies) shows as different bits.
double fixed_order_entry(const arma::mat& A, arma::uword i, const arma::mat& B, arma::uword j) {
  double lanes[8] = {};
  for (arma::uword k = 0; k < A.n_cols; ++k) {
    const double term = A(i, k) * B(k, j);
    lanes[k % 8] += term;
  }
  double four[4];
  for (int l = 0; l < 4; ++l) four[l] = lanes[l] + lanes[l + 4];
  return (four[0] + four[2]) + (four[1] + four[3]);
}

}  // namespace

// The fixed-order product of a short double A and B's columns: each entry
// the sum in the documented order, bit for bit; the same bits from float
// columns as from their double copies, and for any thread count; sizes with
// a partial group of columns and a partial lane (p = 3, 13, 801; n = 1, 7,
// 1030).
BOOST_AUTO_TEST_CASE(fixed_order_product_is_the_same_from_floats_and_any_thread_count) {
  for (const arma::uword p : {3u, 13u, 801u})
    for (const arma::uword n : {1u, 7u, 1030u}) {
      const arma::mat A = random_matrix(20, p, 31 + p);
      const arma::fmat Bf = arma::conv_to<arma::fmat>::from(random_matrix(p, n, 37 + n));
      const arma::mat B = arma::conv_to<arma::mat>::from(Bf);  // exact
      BOOST_TEST_CONTEXT("p " << p << " n " << n) {
        set_threads(1);
        const arma::mat one = multiply_fixed_order(A, B);
        BOOST_TEST(relative_difference(one, A * B) < 1e-14);
        arma::mat in_order(A.n_rows, n);
        for (arma::uword j = 0; j < n; ++j)
          for (arma::uword i = 0; i < A.n_rows; ++i) in_order(i, j) = fixed_order_entry(A, i, B, j);
        BOOST_TEST(same_bits(one, in_order));
        BOOST_TEST(same_bits(multiply_fixed_order(A, Bf), one));
        for (const int threads : {2, 3}) {
          set_threads(threads);
          BOOST_TEST(same_bits(multiply_fixed_order(A, Bf), one));
          BOOST_TEST(same_bits(multiply_fixed_order(A, B), one));
        }
        // A column's entries do not depend on the columns beside it.
        BOOST_TEST(same_bits(multiply_fixed_order(A, arma::mat(B.col(n - 1))), one.col(n - 1)));
      }
    }
  set_threads(0);
  BOOST_CHECK_THROW(multiply_fixed_order(arma::mat(2, 3), arma::mat(4, 5)), Error);
  BOOST_TEST(multiply_fixed_order(arma::mat(2, 0), arma::mat(0, 3)).is_zero());
}
