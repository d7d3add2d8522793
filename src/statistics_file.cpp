#include "krrdistill/statistics_file.hpp"

#include <sys/stat.h>
#include <zlib.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <type_traits>

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/json_fields.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/report.hpp"

namespace krrdistill {

namespace {

constexpr char kMagic[16] = {'K', 'R', 'R', 'D', 'I', 'S', 'T', 'I',
                             'L', 'L', '-', 'S', 'T', 'A', 'T', 'S'};
constexpr std::size_t kPrefixBytes = 16 + 4 + 8;  // magic, version, header length
constexpr std::uint64_t kMaxHeaderBytes = 16u << 20;

bool is_linear(const FeatureMapSpec& spec) {
  return spec.kind == "linear";
}

}  // namespace

nlohmann::json map_spec_json(const FeatureMapSpec& spec) {
  nlohmann::json j = {{"kind", spec.kind}, {"seed", spec.seed}};
  if (spec.kind == "rff") {
    j["p"] = spec.features;
    j["rff_sigma"] = spec.rff_sigma;
  }
  if (spec.kind == "fcnn") {
    j["layers"] = spec.layers;
    j["width"] = spec.width;
    j["slope"] = spec.slope;
  }
  return j;
}

namespace {

nlohmann::json header_json(const SavedStatistics& s) {
  const ImageShape& shape = s.description.shape;
  nlohmann::json pre = {{"zca", s.zca}, {"zca_reg_fraction", s.zca_reg_fraction}};
  if (!is_linear(s.spec)) {
    pre["origin"] = s.preprocessing_origin;
    pre["zca_reg"] = s.pre.zca_reg;
  }
  return {
      {"format", "krrdistill statistics"},
      {"dataset",
       {{"name", s.description.name},
        {"d", shape.size()},
        {"shape", {shape.channels, shape.height, shape.width}},
        {"k", s.description.num_classes},
        {"class_names", s.description.class_names},
        {"class_counts", arma::conv_to<std::vector<arma::uword>>::from(s.class_counts)},
        {"n_train", s.sums.n},
        {"n_validation", s.sums.n_validation},
        {"parts", parts_json(s.parts)}}},
      {"preprocessing", pre},
      {"model", map_spec_json(s.spec)},
      {"validation", {{"fraction", s.validation_fraction}, {"seed", s.validation_seed}}},
  };
}

// The arrays of a file in their order, each with the shape the header
// implies (Matrix: arma::mat to read into, const arma::mat to write from).
template <typename Matrix>
struct ArraySlot {
  Matrix* values;
  arma::uword rows, cols;
};

template <typename Stats>
auto array_slots(Stats& s) {
  using Matrix = std::conditional_t<std::is_const_v<Stats>, const arma::mat, arma::mat>;
  const arma::uword d = s.description.shape.size(), k = s.description.num_classes;
  std::vector<ArraySlot<Matrix>> slots;
  if (is_linear(s.spec)) {
    for (auto* m : {&s.sums.moments, &s.sums.validation_moments}) {
      slots.push_back({&m->gram, d, d});
      slots.push_back({&m->class_sums, d, k});
      slots.push_back({&m->class_counts, k, 1});
    }
    return slots;
  }
  const arma::uword c = s.description.shape.channels, p = output_dim(s.spec, d);
  slots.push_back({&s.pre.channel_mean, c, 1});
  slots.push_back({&s.pre.channel_std, c, 1});
  if (s.zca) {
    slots.push_back({&s.pre.zca_whiten, d, d});
    slots.push_back({&s.pre.zca_unwhiten, d, d});
  }
  for (auto* sum : {&s.sums.G, &s.sums.validation_G}) slots.push_back({&sum->pairs, 2, p * p});
  for (auto* sum : {&s.sums.B, &s.sums.validation_B}) slots.push_back({&sum->pairs, 2, k * p});
  return slots;
}

void put_le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(char((value >> (8 * i)) & 0xff));
}

std::uint64_t get_le(const unsigned char* p, int bytes) {
  std::uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

void append_doubles(std::string& out, const arma::mat& values) {
  static_assert(sizeof(double) == 8 && std::numeric_limits<double>::is_iec559, "IEEE doubles");
  const std::size_t at = out.size();
  out.resize(at + values.n_elem * 8);
  // Little-endian hosts only (the npy writer assumes the same).
  std::memcpy(&out[at], values.memptr(), values.n_elem * 8);
}

void read_exact(InputFile& file, void* out, std::size_t size, uLong& crc) {
  if (file.read(out, size) != size) throw Error(file.path() + ": the statistics file ends early");
  crc = crc32_z(crc, static_cast<const Bytef*>(out), size);
}

bool whole_numbers(const arma::mat& values) {
  for (double v : values)
    if (!(v >= 0 && v <= 9007199254740992.0 && v == std::floor(v))) return false;
  return true;
}

// The checks of the values, after the checksum: what a file from another
// program, or edited by hand, could get wrong.
void check_values(const SavedStatistics& s, const std::string& path) {
  const auto bad = [&](const std::string& what) {
    throw Error(path + ": " + what + " (not a statistics file krrdistill wrote?)");
  };
  const arma::uword k = s.description.num_classes;
  if (is_linear(s.spec)) {
    const PixelMoments& all = s.sums.moments;
    const PixelMoments& val = s.sums.validation_moments;
    for (const PixelMoments* m : {&all, &val})
      if (!whole_numbers(m->gram) || !whole_numbers(m->class_sums) ||
          !whole_numbers(m->class_counts))
        bad("pixel moments that are not whole numbers from 0 to 2^53");
    for (arma::uword c = 0; c < k; ++c) {
      if (all.class_counts[c] != double(s.class_counts[c]))
        bad("class counts that differ from the header's");
      if (val.class_counts[c] > all.class_counts[c])
        bad("more validation samples than training samples in a class");
    }
    if (arma::accu(val.class_counts) != double(s.sums.n_validation))
      bad("validation counts that do not add up to n_validation");
    // What sums of pixels q ∈ {0…255} always satisfy: 0 ≤ S ≤ 255 n per class,
    // Σ q² ≤ 255 Σ q, (Σ q)² ≤ n Σ q² (so a channel's variance is never
    // negative) and |Σ q_i q_j|² ≤ Σ q_i² Σ q_j², the validation part within
    // the whole; and few enough samples for the sums to stay below 2^53.
    if (double(s.sums.n) > kMaxMomentSamples) bad("more samples than exact moments allow");
    const arma::uword d = all.gram.n_rows;
    for (const PixelMoments* m : {&all, &val}) {
      for (arma::uword i = 0; i < d; ++i) {
        const double q = arma::accu(m->class_sums.row(i)), q2 = m->gram(i, i);
        for (arma::uword c = 0; c < k; ++c)
          if (m->class_sums(i, c) > 255.0 * m->class_counts[c])
            bad("a class's pixel sum above 255 times its count");
        // Whole numbers below 2^53: exact in 128-bit integers.
        const unsigned __int128 qi = std::uint64_t(q), q2i = std::uint64_t(q2);
        if (q2 > 255.0 * q || qi * qi > (unsigned __int128)m->count * q2i)
          bad("pixel sums no images can have");
        for (arma::uword j = 0; j < i; ++j)
          if ((long double)m->gram(i, j) * m->gram(i, j) > (long double)q2 * m->gram(j, j))
            bad("pixel products no images can have");
      }
    }
    if (arma::any(arma::vectorise(val.class_sums > all.class_sums)) ||
        arma::any(val.gram.diag() > all.gram.diag()))
      bad("validation sums above the whole's");
    return;
  }
  if (!s.pre.channel_mean.is_finite() || !s.pre.channel_std.is_finite() ||
      arma::any(s.pre.channel_std <= 0))
    bad("a channel mean or std that is not finite, or a std that is not positive");
  if (s.zca && (!s.pre.zca_whiten.is_finite() || !s.pre.zca_unwhiten.is_finite()))
    bad("a ZCA matrix that is not finite");
  for (const CompensatedSum* sum :
       {&s.sums.G, &s.sums.B, &s.sums.validation_G, &s.sums.validation_B})
    if (!sum->pairs.is_finite()) bad("sums that are not finite");
  // G = Σ φ φᵀ is symmetric (the pass mirrors its lower triangle) with a diagonal that
  // is never negative, and the validation part is within the whole.
  const arma::mat G = value(s.sums.G), G_val = value(s.sums.validation_G);
  if (!G.is_symmetric() || !G_val.is_symmetric() || arma::any(G_val.diag() < 0) ||
      arma::any(G_val.diag() > G.diag()))
    bad("a Gram matrix that no features can have");
}

bool starts_with_magic(const std::string& path) {
  try {
    InputFile file(path, false);
    char head[sizeof kMagic];
    return file.read(head, sizeof head) == sizeof head &&
           std::memcmp(head, kMagic, sizeof kMagic) == 0;
  } catch (const Error&) {
    return false;
  }
}
std::string hex(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", (unsigned long long)value);
  return text;
}

}  // namespace

nlohmann::json parts_json(const std::vector<StatisticsPart>& parts) {
  nlohmann::json out = nlohmann::json::array();
  for (const StatisticsPart& part : parts)
    out.push_back({{"dataset", part.dataset},
                   {"dir", part.dir},
                   {"n_train", part.n_train},
                   {"fingerprint", hex(part.fingerprint)},
                   {"preprocessing", part.preprocessing}});
  return out;
}
void check_statistics_output(const std::string& path, bool force) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      throw Error(path + ": exists and is not a regular file; not replaced");
    if (!force) throw Error(path + ": exists (--force replaces a statistics file)");
    if (!starts_with_magic(path))
      throw Error(path + ": exists and is not a statistics file krrdistill wrote; not replaced");
  }
  const std::string parent = std::filesystem::path(path).parent_path().string();
  if (!parent.empty() && (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
    throw Error(path + ": the folder " + parent + " does not exist");
}

void write_statistics(const std::string& path, const SavedStatistics& stats, bool force) {
  check_statistics_output(path, force);
  std::string bytes(kMagic, sizeof kMagic);
  put_le(bytes, kStatisticsVersion, 4);
  const std::string header = header_json(stats).dump();
  put_le(bytes, header.size(), 8);
  bytes += header;
  for (const auto& slot : array_slots(stats)) {
    if (slot.values->n_rows != slot.rows || slot.values->n_cols != slot.cols)
      throw Error(path + ": the statistics do not match their header");
    append_doubles(bytes, *slot.values);
  }
  const uLong crc =
      crc32_z(crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
  put_le(bytes, crc, 4);
  write_file_atomic(path, bytes.data(), bytes.size());
}

SavedStatistics read_statistics(const std::string& path) {
  InputFile file(path, false);
  const std::uint64_t size = file.size();
  uLong crc = crc32_z(0L, Z_NULL, 0);
  unsigned char prefix[kPrefixBytes];
  if (size < kPrefixBytes + 4) throw Error(path + ": too short for a statistics file");
  read_exact(file, prefix, kPrefixBytes, crc);
  if (std::memcmp(prefix, kMagic, sizeof kMagic) != 0)
    throw Error(path + ": not a krrdistill statistics file (it does not start with " +
                std::string(kMagic, sizeof kMagic) + ")");
  const std::uint64_t version = get_le(prefix + 16, 4);
  if (version != kStatisticsVersion)
    throw Error(path + ": statistics format version " + std::to_string(version) +
                ", this krrdistill reads version " + std::to_string(kStatisticsVersion));
  const std::uint64_t header_bytes = get_le(prefix + 20, 8);
  if (header_bytes > kMaxHeaderBytes || header_bytes > size - kPrefixBytes - 4)
    throw Error(path + ": the header length is larger than the file");
  std::string text(header_bytes, '\0');
  read_exact(file, text.data(), text.size(), crc);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": the header is not valid JSON");
  }
  if (!header.is_object() || !header.contains("format") ||
      header.at("format") != "krrdistill statistics")
    throw Error(path + ": the header does not name the krrdistill statistics format");

  SavedStatistics s;
  const nlohmann::json& dataset = section(header, "dataset", path);
  const std::uint64_t d = header_image_size(header, path);
  // Within 32-bit BLAS indices, so that no array size below can overflow.
  if (d > std::uint64_t(INT_MAX)) wrong("shape", "dataset", path, "is too large");
  const nlohmann::json& shape = dataset.at("shape");
  s.description.shape = {shape[0].get<arma::uword>(), shape[1].get<arma::uword>(),
                         shape[2].get<arma::uword>()};
  s.description.name = string_field(dataset, "name", "dataset", path);
  const std::uint64_t k = unsigned_field(dataset, "k", "dataset", path);
  if (k < 2 || k > kMaxClasses)
    wrong("k", "dataset", path, "must lie in 2.." + std::to_string(kMaxClasses));
  s.description.num_classes = k;
  const nlohmann::json& names = field(dataset, "class_names", "dataset", path);
  const nlohmann::json& counts = field(dataset, "class_counts", "dataset", path);
  if (!names.is_array() || names.size() != k)
    wrong("class_names", "dataset", path, "must hold k names");
  if (!counts.is_array() || counts.size() != k)
    wrong("class_counts", "dataset", path, "must hold k counts");
  s.class_counts.set_size(k);
  long double total = 0;
  for (std::uint64_t c = 0; c < k; ++c) {
    if (!names[c].is_string()) wrong("class_names", "dataset", path, "must hold strings");
    if (!counts[c].is_number_unsigned() || counts[c].get<std::uint64_t>() > (1ull << 53))
      wrong("class_counts", "dataset", path, "must hold counts below 2^53");
    s.description.class_names.push_back(names[c].get<std::string>());
    s.class_counts[c] = counts[c].get<arma::uword>();
    total += s.class_counts[c];
  }
  if (total > kMaxMomentSamples)
    wrong("class_counts", "dataset", path,
          "add up to more samples than sums in double hold exactly");
  s.sums.n = unsigned_field(dataset, "n_train", "dataset", path);
  s.sums.n_validation = unsigned_field(dataset, "n_validation", "dataset", path);
  if ((long double)s.sums.n != total)
    wrong("n_train", "dataset", path, "is not the sum of class_counts");
  if (s.sums.n_validation == 0 || s.sums.n_validation >= s.sums.n)
    wrong("n_validation", "dataset", path, "must lie in 1..n_train-1");
  const nlohmann::json& parts = field(dataset, "parts", "dataset", path);
  if (!parts.is_array() || parts.empty()) wrong("parts", "dataset", path, "must be a list");
  for (const nlohmann::json& part : parts) {
    const std::string print = string_field(part, "fingerprint", "dataset.parts", path);
    if (print.size() != 16 || print.find_first_not_of("0123456789abcdef") != std::string::npos)
      wrong("fingerprint", "dataset.parts", path, "must be 16 hexadecimal digits");
    s.parts.push_back({string_field(part, "dataset", "dataset.parts", path),
                       string_field(part, "dir", "dataset.parts", path),
                       unsigned_field(part, "n_train", "dataset.parts", path),
                       std::stoull(print, nullptr, 16),
                       string_field(part, "preprocessing", "dataset.parts", path)});
  }

  s.spec = feature_spec_from_json(header, path);
  const nlohmann::json& pre = section(header, "preprocessing", path);
  s.zca = bool_field(pre, "zca", "preprocessing", path);
  s.zca_reg_fraction = finite_field(pre, "zca_reg_fraction", "preprocessing", path);
  if (!(s.zca_reg_fraction > 0))
    wrong("zca_reg_fraction", "preprocessing", path, "must be positive");
  if (!is_linear(s.spec)) {
    s.preprocessing_origin = string_field(pre, "origin", "preprocessing", path);
    s.pre.shape = s.description.shape;
    s.pre.zca = s.zca;
    s.pre.zca_reg = finite_field(pre, "zca_reg", "preprocessing", path);
    if (s.zca && !(s.pre.zca_reg > 0)) wrong("zca_reg", "preprocessing", path, "must be positive");
  }
  const nlohmann::json& validation = section(header, "validation", path);
  s.validation_fraction = finite_field(validation, "fraction", "validation", path);
  if (!(s.validation_fraction > 0 && s.validation_fraction < 1))
    wrong("fraction", "validation", path, "must lie in (0, 1)");
  s.validation_seed = unsigned_field(validation, "seed", "validation", path);
  // One dataset's file holds the validation split that fraction draws from it.
  if (s.parts.size() == 1 &&
      s.sums.n_validation != validation_count(s.sums.n, s.validation_fraction))
    wrong("n_validation", "dataset", path, "is not the validation split of n_train");

  // The arrays must fill the file exactly: checked before any is sized.
  const auto slots = array_slots(s);
  long double values = 0;
  for (const auto& slot : slots) values += (long double)slot.rows * (long double)slot.cols;
  const long double expected = (long double)(kPrefixBytes + header_bytes + 4) + 8.0L * values;
  if (expected != (long double)size)
    throw Error(path + ": " + std::to_string(size) + " bytes, but the header (d = " +
                std::to_string(d) + ", k = " + std::to_string(k) + ") implies " +
                std::to_string((unsigned long long)std::min<long double>(expected, 1e19L)));
  check_memory("reading " + path, {{"the statistics", double(8.0L * values)}});
  for (const auto& slot : slots) {
    slot.values->set_size(slot.rows, slot.cols);
    read_exact(file, slot.values->memptr(), slot.values->n_elem * 8, crc);
  }
  unsigned char stored[4];
  if (file.read(stored, 4) != 4) throw Error(path + ": the statistics file ends early");
  if (get_le(stored, 4) != (crc & 0xffffffffu))
    throw Error(path + ": checksum mismatch: the file is damaged");
  if (is_linear(s.spec)) {
    s.sums.moments.count = s.sums.n;
    s.sums.validation_moments.count = s.sums.n_validation;
  } else {
    const arma::uword p = output_dim(s.spec, d);
    for (CompensatedSum* sum : {&s.sums.G, &s.sums.validation_G}) sum->n_rows = sum->n_cols = p;
    for (CompensatedSum* sum : {&s.sums.B, &s.sums.validation_B}) {
      sum->n_rows = k;
      sum->n_cols = p;
    }
  }
  check_values(s, path);
  return s;
}

}  // namespace krrdistill
