// The readers as the fuzz targets drive them, shared with
// tests/test_fuzz_regressions.cpp, which replays the seeds and every saved
// finding through the same code.
//
// An input is one selector byte and the bytes of one file. The selector picks
// which file of a small, otherwise valid dataset folder the bytes replace (and
// the dataset variant), so the fuzzer reaches the checks across files (image
// and label counts, train and test shapes) as well as each file's own parser.
// The readers are called through their public interface on real files, so
// the product code is the code that ships. Dataset inputs go through the one
// reader twice: load_dataset, then the streamed reads at odd offsets, which
// must agree with it.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/pipeline.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/saved_statistics.hpp"
#include "krrdistill/statistics_file.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill_fuzz {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

enum class Target { idx, cifar10, cifar100, npy, report, statistics };

inline const char* target_name(Target t) {
  switch (t) {
    case Target::idx:
      return "idx";
    case Target::cifar10:
      return "cifar10";
    case Target::cifar100:
      return "cifar100";
    case Target::npy:
      return "npy";
    case Target::report:
      return "report";
    case Target::statistics:
      return "statistics";
  }
  return "?";
}

inline std::vector<Target> all_targets() {
  return {Target::idx, Target::cifar10, Target::cifar100,
          Target::npy, Target::report,  Target::statistics};
}

// ---- valid files ------------------------------------------------------------

inline Bytes text_bytes(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

inline void put_be32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
}

inline Bytes idx_images(std::uint32_t n, std::uint32_t h, std::uint32_t w) {
  Bytes out;
  put_be32(out, 0x803);
  put_be32(out, n);
  put_be32(out, h);
  put_be32(out, w);
  for (std::uint32_t i = 0; i < n * h * w; ++i) out.push_back(static_cast<unsigned char>(37 * i));
  return out;
}

inline Bytes idx_labels(const std::vector<unsigned char>& labels) {
  Bytes out;
  put_be32(out, 0x801);
  put_be32(out, std::uint32_t(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

// One gzip member (zlib with a gzip wrapper), as gzip(1) writes it.
inline Bytes gzip(const Bytes& in) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  Bytes out(deflateBound(&zs, uLong(in.size())) + 32);
  zs.next_in = const_cast<unsigned char*>(in.data());
  zs.avail_in = uInt(in.size());
  zs.next_out = out.data();
  zs.avail_out = uInt(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(zs.total_out);
  return out;
}

// Records of CIFAR-10 (labels = {label}) or CIFAR-100 (labels = {coarse, fine}).
inline Bytes cifar_records(const std::vector<std::vector<unsigned char>>& labels) {
  Bytes out;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    out.insert(out.end(), labels[r].begin(), labels[r].end());
    for (int i = 0; i < 3072; ++i) out.push_back(static_cast<unsigned char>(i * 7 + r));
  }
  return out;
}

inline Bytes names(int k, const std::string& stem) {
  std::string text;
  for (int c = 0; c < k; ++c) text += stem + std::to_string(c) + "\n";
  return text_bytes(text);
}

// Version 1.0 .npy with a header padded to 64 bytes, as numpy writes it.
inline Bytes npy(const std::string& descr, const std::string& shape, const Bytes& data,
                 bool fortran = false) {
  std::string header = "{'descr': '" + descr +
                       "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': " + shape + ", }";
  const std::size_t total = 10 + header.size() + 1;
  header.append((total + 63) / 64 * 64 - total, ' ');
  header.push_back('\n');
  Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.push_back(static_cast<unsigned char>(header.size() & 0xff));
  out.push_back(static_cast<unsigned char>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

inline Bytes le64(const std::vector<std::int64_t>& values) {
  Bytes out(values.size() * 8);
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

inline Bytes f32(const std::vector<float>& values) {
  Bytes out(values.size() * 4);
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

inline Bytes f64(const std::vector<double>& values) {
  Bytes out(values.size() * 8);
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// A report.json as `krrdistill distill` writes it (the fields eval reads,
// and a few it does not), for images of shape 1×2×2 and 3 classes.
inline std::string report_json(const std::string& kind) {
  std::string model = "\"kind\": \"" + kind + "\", \"p\": 4, \"lambda\": 0.01, \"seed\": 3";
  if (kind == "rff") model += ", \"rff_sigma\": 2.0";
  if (kind == "fcnn") model += ", \"layers\": 2, \"width\": 4, \"slope\": 0.1";
  return "{\n"
         "  \"command\": \"distill\",\n"
         "  \"dataset\": {\"name\": \"idx\", \"source\": \"idx\", \"dir\": \"data\", "
         "\"coarse\": false, \"n_train\": 3, \"n_test\": 2, \"d\": 4, \"k\": 3, "
         "\"shape\": [1, 2, 2], \"class_names\": [\"0\", \"1\", \"2\"], "
         "\"preprocessing\": {\"pixel_scale\": \"x/255\", \"channel_mean\": [0.5], "
         "\"channel_std\": [0.25], \"zca\": false, \"zca_reg_fraction\": 0.1, \"zca_reg\": 0}},\n"
         "  \"model\": {" +
         model +
         "},\n"
         "  \"distilled\": {\"method\": \"analytic\", \"ipc\": 1, \"m\": 3, \"init\": \"real\", "
         "\"lambda_s\": 0.001, \"lambda_s_requested\": 0.001, \"lambda_s_clamped\": false},\n"
         "  \"certificate\": {\"weight_rel_error\": 1e-12, "
         "\"original\": {\"train_acc\": 1.0, \"test_acc\": 0.5}, "
         "\"distilled\": {\"train_acc\": 1.0, \"test_acc\": 0.5}},\n"
         "  \"timings_s\": {\"total\": 0.1}\n"
         "}\n";
}

// A statistics file as `krrdistill stats` writes it, of six images of shape
// 1×2×2 in 3 classes, for a map of kind ("linear", "rff", "fcnn"), written
// to path as the statistics of the folder named source_dir; a nonlinear map
// takes fixed's preprocessing when given.
inline krrdistill::SavedStatistics write_statistics_file(
    const std::string& kind, const std::string& path, const std::string& source_dir,
    const krrdistill::SavedStatistics* fixed = nullptr) {
  krrdistill::PixelMatrix pixels(4, 6);
  for (arma::uword i = 0; i < pixels.n_elem; ++i)
    pixels[i] = std::uint8_t((i * 41 + source_dir.size() * 7) % 256);
  const arma::uvec labels = {0, 1, 2, 0, 1, 2};
  const krrdistill::Dataset data = krrdistill::make_dataset(
      pixels, labels, pixels, labels, krrdistill::ImageShape{1, 2, 2}, 3, "idx");
  krrdistill::StatisticsConfig config;
  config.source.dataset = "idx";
  config.source.dir = source_dir;
  config.source.zca = kind == "fcnn";
  config.spec.kind = kind;
  config.spec.seed = 5;
  config.fit.validation_fraction = 0.2;
  const krrdistill::SavedStatistics stats = krrdistill::compute_statistics(
      krrdistill::view_dataset(data), config, kind == "linear" ? nullptr : fixed,
      krrdistill::Communicator{}, krrdistill::Progress::silent(), "first.stats");
  krrdistill::write_statistics(path, stats, true);
  return stats;
}

inline Bytes file_bytes(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  Bytes out;
  for (int ch; f != nullptr && (ch = std::fgetc(f)) != EOF;)
    out.push_back(static_cast<unsigned char>(ch));
  if (f != nullptr) std::fclose(f);
  return out;
}

// The bytes with their last four replaced by the CRC-32 of the others, as
// the writer ends a statistics file: damage then gets past the checksum to
// the checks behind it.
inline Bytes with_checksum(Bytes bytes) {
  if (bytes.size() < 4) return bytes;
  const uLong crc = crc32_z(crc32_z(0L, Z_NULL, 0), bytes.data(), bytes.size() - 4);
  for (int i = 0; i < 4; ++i)
    bytes[bytes.size() - 4 + i] = static_cast<unsigned char>(crc >> (8 * i));
  return bytes;
}

// ---- the harness ------------------------------------------------------------

class Harness {
 public:
  // Writes the valid folder under base (a fresh subfolder, removed again by
  // the destructor).
  Harness(Target target, const fs::path& base) : target_(target) {
    static int counter = 0;
    dir_ = base / ("krrdistill_fuzz_" + std::string(target_name(target)) + "_" +
                   std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    switch (target) {
      case Target::idx:
        valid_ = {{"train-images-idx3-ubyte", idx_images(3, 2, 2)},
                  {"train-labels-idx1-ubyte", idx_labels({0, 1, 2})},
                  {"t10k-images-idx3-ubyte", idx_images(2, 2, 2)},
                  {"t10k-labels-idx1-ubyte", idx_labels({2, 0})}};
        break;
      case Target::cifar10:
        for (int b = 1; b <= 5; ++b)
          valid_.push_back({"data_batch_" + std::to_string(b) + ".bin",
                            cifar_records({{static_cast<unsigned char>(b)}})});
        valid_.push_back({"test_batch.bin", cifar_records({{9}})});
        valid_.push_back({"batches.meta.txt", names(10, "class")});
        break;
      case Target::cifar100:
        valid_ = {{"train.bin", cifar_records({{0, 5}, {19, 99}})},
                  {"test.bin", cifar_records({{3, 42}})},
                  {"fine_label_names.txt", names(100, "fine")},
                  {"coarse_label_names.txt", names(20, "coarse")}};
        break;
      case Target::npy:
        valid_ = {
            {"x_train.npy", npy("|u1", "(3, 2, 2)", Bytes(12, 9))},
            {"y_train.npy", npy("<i8", "(3,)", le64({0, 1, 2}))},
            {"x_test.npy", npy("|u1", "(2, 2, 2)", Bytes(8, 200))},
            {"y_test.npy", npy("|u1", "(2,)", Bytes{1, 2})},
            {"distilled_X.npy", npy("<f8", "(3, 1, 2, 2)", f64(std::vector<double>(12, 0.5)))},
            // A folder with real targets (docs/design.md §10): float32 and float64.
            {"real/x_train.npy", npy("|u1", "(3, 2, 2)", Bytes(12, 7))},
            {"real/y_train.npy", npy("<f4", "(3, 2)", f32({0.5f, -1.0f, 2.0f, 0.0f, 3.5f, 1e-3f}))},
            {"real/x_test.npy", npy("|u1", "(2, 2, 2)", Bytes(8, 100))},
            {"real/y_test.npy", npy("<f8", "(2, 2)", f64({1.0, 2.0, -3.0, 0.25}))},
            // Feature matrices (§11): float32 in C order, float64 in Fortran order.
            {"features/x_train.npy",
             npy("<f4", "(3, 2)", f32({0.5f, -1.0f, 2.0f, 0.0f, 3.5f, 1e-3f}))},
            {"features/y_train.npy", npy("|u1", "(3,)", Bytes{0, 1, 1})},
            {"features/x_test.npy", npy("<f8", "(2, 2)", f64({1.0, 2.0, -3.0, 0.25}), true)},
            {"features/y_test.npy", npy("|u1", "(2,)", Bytes{1, 0})}};
        fs::create_directories(dir_ / "real");
        fs::create_directories(dir_ / "features");
        break;
      case Target::report:
        valid_ = {{"report.json", text_bytes(report_json("linear"))}};
        break;
      case Target::statistics:
        // Each fuzzed file is merged with a partner: the same map over other
        // images, under the fuzzed file's preprocessing.
        for (const std::string kind : {"linear", "rff", "fcnn"}) {
          const std::string path = (dir_ / (kind + ".stats")).string();
          const krrdistill::SavedStatistics first = write_statistics_file(kind, path, "/first");
          valid_.push_back({kind + ".stats", file_bytes(path)});
          write_statistics_file(kind, (dir_ / ("partner_" + kind + ".stats")).string(), "/second",
                                &first);
        }
        break;
    }
    for (const auto& [name, bytes] : valid_) write(name, bytes);
  }

  ~Harness() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Runs the reader on one input; "" when it was accepted, the Error message
  // when refused. Anything else (another exception, a crash, a sanitizer
  // report) escapes and is a finding.
  std::string run(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return "empty input";
    const unsigned selector = data[0];
    const std::size_t slot = selector % valid_.size();
    const std::string& name = valid_[slot].first;
    Bytes file(data + 1, data + size);
    // Statistics: every other variant carries a correct checksum.
    if (target_ == Target::statistics && (selector / valid_.size()) % 2 == 1)
      file = with_checksum(file);
    write(name, file);
    std::string message;
    try {
      read(selector, slot);
    } catch (const krrdistill::Error& e) {
      message = e.what();
      if (message.empty()) message = "(empty error message)";
    }
    write(name, valid_[slot].second);
    return message;
  }

  // Valid inputs for every slot and variant: the seed corpus.
  std::vector<Bytes> seeds() const {
    std::vector<Bytes> out;
    auto add = [&](unsigned selector, const Bytes& file) {
      Bytes input{static_cast<unsigned char>(selector)};
      input.insert(input.end(), file.begin(), file.end());
      out.push_back(input);
    };
    const unsigned slots = unsigned(valid_.size());
    if (target_ == Target::statistics) {
      for (unsigned s = 0; s < slots; ++s) {
        add(s, valid_[s].second);
        add(slots + s, valid_[s].second);
      }
      return out;
    }
    if (target_ == Target::report) {
      for (const char* kind : {"linear", "rff", "fcnn"}) add(0, text_bytes(report_json(kind)));
      return out;
    }
    // IDX: 4 dataset names; CIFAR-100: fine and coarse; others: one variant.
    const unsigned variants = target_ == Target::idx ? 4 : target_ == Target::cifar100 ? 2 : 1;
    for (unsigned v = 0; v < variants; ++v)
      for (unsigned s = 0; s < slots; ++s) {
        add(v * slots + s, valid_[s].second);
        if (target_ == Target::idx && v == 0) add(s, gzip(valid_[s].second));
      }
    return out;
  }

  const fs::path& dir() const { return dir_; }

 private:
  void write(const std::string& name, const Bytes& bytes) const {
    const std::string path = (dir_ / name).string();
    // A new file rather than a truncated one: ext4 flushes a file truncated
    // and rewritten on close (auto_da_alloc), which costs milliseconds a run.
    ::unlink(path.c_str());
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) throw std::runtime_error("cannot write " + path);
    const bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write " + path);
  }

  // The one reader, as both kinds of run use it: load_dataset reads every
  // pixel; once it has accepted the files, a streamed run's reads (ranges of
  // odd sizes from odd samples, forward then back, and the chunked pass)
  // must accept them too and give the same labels and pixels. A difference
  // is a finding (not a krrdistill::Error).
  static void read_dataset(const std::string& name, const std::string& dir, bool coarse) {
    const krrdistill::Dataset whole = krrdistill::load_dataset(name, dir, coarse);
    try {
      const krrdistill::DatasetSource source = krrdistill::open_stream_dataset(name, dir, coarse);
      if (source.num_classes != whole.num_classes || source.class_names != whole.class_names)
        throw std::logic_error("opened and loaded dataset differ in their classes");
      check_chunks(source.train, whole.train);
      check_chunks(source.test, whole.test);
    } catch (const krrdistill::Error& e) {
      throw std::logic_error(std::string("a streamed read refused what load_dataset accepted: ") +
                             e.what());
    }
  }

  static void check_chunks(const krrdistill::SplitSource& split, const krrdistill::Split& whole) {
    const arma::uword n = split.size();
    if (split.feature_matrix) {  // every range read against the whole
      const bool same_targets =
          split.regression() ? arma::approx_equal(krrdistill::targets_of(split, 0, n),
                                                  whole.targets, "absdiff", 0.0)
                             : !arma::any(krrdistill::labels_of(split, 0, n) != whole.labels);
      if (whole.features.n_cols != n || whole.features.n_rows != split.dim || !same_targets)
        throw std::logic_error("opened and loaded feature matrices differ");
      for (arma::uword first = 0; first < n; ++first)
        for (arma::uword count = 1; first + count <= n; ++count)
          if (!arma::approx_equal(krrdistill::read_features(split, first, count),
                                  whole.features.cols(first, first + count - 1), "absdiff", 0.0))
            throw std::logic_error("a feature range read differs from load_dataset's");
      return;
    }
    if (split.regression()) {
      if (n != whole.targets.n_cols || split.dim != whole.pixels.n_rows ||
          !arma::approx_equal(krrdistill::targets_of(split, 0, n), whole.targets, "absdiff", 0.0))
        throw std::logic_error("opened and loaded targets differ");
    } else if (n != whole.labels.n_elem || split.dim != whole.pixels.n_rows ||
               arma::any(krrdistill::labels_of(split, 0, n) != whole.labels)) {
      throw std::logic_error("opened and loaded labels differ");
    }
    auto same = [&whole](const krrdistill::PixelMatrix& pixels, arma::uword column,
                         arma::uword first, arma::uword count) {
      for (arma::uword j = 0; j < count; ++j)
        if (std::memcmp(pixels.colptr(column + j), whole.pixels.colptr(first + j),
                        whole.pixels.n_rows) != 0)
          throw std::logic_error("a chunk read differs from load_dataset's pixels of sample " +
                                 std::to_string(first + j));
    };
    const arma::uword start = n > 1 ? 1 : 0;  // odd offsets: from sample 1
    for (arma::uword chunk : {1u, 3u, 7u}) {
      krrdistill::PixelReader reader(split);
      for (arma::uword first = start; first < n; first += chunk) {
        const arma::uword count = std::min(chunk, n - first);
        same(reader.read(first, count), 0, first, count);
      }
      same(reader.read(0, 1), 0, 0, 1);  // backward: a gzip stream restarts
      krrdistill::for_each_pixel_chunk(
          split, krrdistill::Range{start, n}, chunk,
          [&same](arma::uword first, const krrdistill::PixelMatrix& pixels, arma::uword column,
                  arma::uword count) { same(pixels, column, first, count); });
    }
  }

  void read(unsigned selector, std::size_t slot) const {
    const std::string dir = dir_.string();
    const unsigned variant = selector / unsigned(valid_.size());
    switch (target_) {
      case Target::idx: {
        const char* name[] = {"idx", "mnist", "fashion-mnist", "auto"};
        read_dataset(name[variant % 4], dir, false);
        break;
      }
      case Target::cifar10:
        read_dataset("cifar10", dir, false);
        break;
      case Target::cifar100:
        read_dataset("cifar100", dir, variant % 2 == 1);
        break;
      case Target::npy:
        if (valid_[slot].first == "distilled_X.npy") {
          // What eval does with distilled_X.npy / distilled_Y.npy.
          const std::string path = (dir_ / "distilled_X.npy").string();
          const krrdistill::NpyArray array = krrdistill::read_npy(path);
          for (double v : krrdistill::npy_as_double(array, path))
            if (!std::isfinite(v)) throw krrdistill::Error(path + ": holds NaN or Inf");
        } else if (valid_[slot].first.rfind("real/", 0) == 0) {
          read_dataset("npy", dir + "/real", false);
        } else if (valid_[slot].first.rfind("features/", 0) == 0) {
          read_dataset("npy", dir + "/features", false);
        } else {
          read_dataset("npy", dir, false);
        }
        break;
      case Target::report: {
        // eval: the report, then the check against the dataset it names
        // (here an in-memory one of shape 1×2×2 and 3 classes), then the map.
        const std::string path = (dir_ / "report.json").string();
        const krrdistill::EvalReport report = krrdistill::read_eval_report(path);
        krrdistill::Dataset data;
        data.shape = krrdistill::ImageShape{1, 2, 2};
        data.num_classes = 3;
        krrdistill::check_report_matches(report, data, path);
        const krrdistill::FeatureMap map = krrdistill::make_feature_map(report.spec, 4);
        const std::string problem = krrdistill::surjectivity_problem(map);
        if (!problem.empty()) throw krrdistill::Error(path + ": " + problem);
        break;
      }
      case Target::statistics: {
        // distill --stats: read, merge with the partner file, fit with a
        // fixed λ and with the sweep.
        const std::string path = (dir_ / valid_[slot].first).string();
        const krrdistill::SavedStatistics read = krrdistill::read_statistics(path);
        const std::string partner = (dir_ / ("partner_" + valid_[slot].first)).string();
        const krrdistill::SavedStatistics merged = krrdistill::merge_statistics(
            {krrdistill::read_statistics(partner), read}, {partner, path});
        krrdistill::FitOptions fit;
        fit.lambda = 0.5;
        krrdistill::fit_statistics(read, fit);
        fit.lambda = std::numeric_limits<double>::quiet_NaN();
        krrdistill::fit_statistics(merged, fit);
        break;
      }
    }
  }

  Target target_;
  fs::path dir_;
  std::vector<std::pair<std::string, Bytes>> valid_;
};

}  // namespace krrdistill_fuzz
