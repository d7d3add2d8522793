// Replays the fuzz harness (fuzz/harness.hpp) without libFuzzer, so that the
// normal and the sanitizer builds check it too: the seeds are accepted; every
// truncation and many byte flips of them, and every input saved in
// fuzz/regressions/<target>/ (what the fuzzers once found), are refused with
// one krrdistill::Error line that names the file, and nothing else escapes.
// Every dataset input accepted by load_dataset is also read as a streamed run
// reads it (odd chunk sizes from odd samples) and must give the same pixels.
#define BOOST_TEST_MODULE fuzz_regressions
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "../fuzz/harness.hpp"

namespace fs = std::filesystem;
namespace bdata = boost::unit_test::data;
using krrdistill_fuzz::Bytes;
using krrdistill_fuzz::Harness;
using krrdistill_fuzz::Target;

namespace {

const fs::path kRegressions =
    fs::path(__FILE__).parent_path().parent_path() / "fuzz" / "regressions";

struct Tally {
  std::size_t accepted = 0, refused = 0;
};

// Runs one input; a refusal must be one non-empty line naming the file.
void run_one(Harness& h, const Bytes& input, Tally& tally, const std::string& what) {
  std::string message;
  try {
    message = h.run(input.data(), input.size());
  } catch (const std::exception& e) {
    BOOST_ERROR(what << ": exception other than krrdistill::Error: " << e.what());
    return;
  }
  if (message.empty()) {
    ++tally.accepted;
    return;
  }
  ++tally.refused;
  BOOST_TEST_CONTEXT(what << ": " << message) {
    BOOST_TEST(message.find('\n') == std::string::npos);
    BOOST_TEST(message.find(h.dir().string()) != std::string::npos);
  }
}

std::vector<Bytes> mutations(const Bytes& seed) {
  std::vector<Bytes> out;
  // Truncations keep the selector byte: every length through the headers,
  // then every 61st.
  for (std::size_t n = 1; n < seed.size(); n += (n < 40 ? 1 : 61))
    out.emplace_back(seed.begin(), seed.begin() + n);
  // Byte changes: three values at every header byte, then here and there.
  for (std::size_t i = 1; i < seed.size(); i += (i < 33 ? 1 : 97))
    for (unsigned char v : {0x00, 0xff, 0x80}) {
      if (i >= 33 && v != 0xff) continue;
      Bytes m = seed;
      if (m[i] == v) continue;
      m[i] = v;
      out.push_back(m);
    }
  // An appended byte: files longer than their header says.
  Bytes longer = seed;
  longer.push_back(0);
  out.push_back(longer);
  return out;
}

Bytes read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const auto kTargets = bdata::make(krrdistill_fuzz::all_targets());

}  // namespace

BOOST_TEST_DONT_PRINT_LOG_VALUE(Target)

BOOST_DATA_TEST_CASE(seeds_are_accepted, kTargets, target) {
  Harness h(target, fs::current_path());
  const std::vector<Bytes> seeds = h.seeds();
  BOOST_TEST(!seeds.empty());
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    const std::string message = h.run(seeds[i].data(), seeds[i].size());
    BOOST_TEST(message.empty(), krrdistill_fuzz::target_name(target)
                                    << " seed " << i << ": " << message);
  }
}

BOOST_DATA_TEST_CASE(mutated_seeds_are_refused_cleanly, kTargets, target) {
  Harness h(target, fs::current_path());
  Tally tally;
  const std::vector<Bytes> seeds = h.seeds();
  for (std::size_t i = 0; i < seeds.size(); ++i)
    for (const Bytes& m : mutations(seeds[i]))
      run_one(h, m, tally,
              std::string(krrdistill_fuzz::target_name(target)) + " seed " + std::to_string(i));
  BOOST_TEST_MESSAGE(krrdistill_fuzz::target_name(target)
                     << ": " << tally.refused << " refused, " << tally.accepted << " accepted");
  BOOST_TEST(tally.refused > 0u);
}

BOOST_DATA_TEST_CASE(saved_findings_are_refused_cleanly, kTargets, target) {
  const fs::path dir = kRegressions / krrdistill_fuzz::target_name(target);
  if (!fs::exists(dir)) return;
  Harness h(target, fs::current_path());
  Tally tally;
  for (const auto& entry : fs::directory_iterator(dir))
    run_one(h, read_all(entry.path()), tally, entry.path().filename().string());
  BOOST_TEST_MESSAGE(krrdistill_fuzz::target_name(target)
                     << ": " << tally.refused + tally.accepted << " saved inputs replayed");
}
