// Output folders never destroy anything krrdistill did not write
// (src/output_dir.cpp, src/output_lock.cpp): --out may not overlap the inputs, --force replaces
// only a krrdistill folder, a folder that appears during a run is left
// alone, one run at a time writes a folder, and the leftovers of a killed
// run are removed by the next one.
#define BOOST_TEST_MODULE output_dir
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/output_dir.hpp"

using namespace fixtures;
using krrdistill::StagedOutputDir;

namespace {

using Snapshot = std::map<std::string, std::string>;  // file name -> bytes

Snapshot snapshot(const std::string& dir) {
  Snapshot files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file())
      files[fs::relative(entry.path(), dir).string()] = read_text(entry.path().string());
  return files;
}

// Hidden entries beside out: staging folders and the lock file.
std::vector<std::string> hidden_beside(const std::string& out) {
  std::vector<std::string> found;
  const std::string prefix = "." + fs::path(out).filename().string() + ".";
  for (const auto& entry : fs::directory_iterator(fs::path(out).parent_path()))
    if (entry.path().filename().string().rfind(prefix, 0) == 0)
      found.push_back(entry.path().filename().string());
  return found;
}

// What a finished run leaves: its files and a report that lists them.
void write_result(StagedOutputDir& dir, const std::string& content) {
  write_text(dir.path("distilled_X.npy"), content);
  nlohmann::json report = {{"command", "distill"}};
  report["output"] = dir.manifest("report.json");
  write_text(dir.path("report.json"), report.dump());
}

void make_krrdistill_output(const std::string& out, const std::string& content) {
  StagedOutputDir dir(out, true);
  write_result(dir, content);
  dir.commit();
}

}  // namespace

BOOST_AUTO_TEST_CASE(out_must_not_overlap_the_inputs) {
  TempDir scratch("output_dir");
  const std::string data = scratch.file("data");
  fs::create_directories(data + "/sub");
  write_text(data + "/train.bin", "pixels");
  const Snapshot before = snapshot(scratch.dir());
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(data, true, {data}); }), " is the input "));
  BOOST_TEST(
      contains(error_of([&] { StagedOutputDir(data + "/", true, {data}); }), " is the input "));
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(data + "/sub/out", true, {data}); }),
                      "lies inside the input"));
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(scratch.dir(), true, {data}); }),
                      "contains the input"));
  // The same through a symbolic link to the data, and through ".." in the path.
  fs::create_directory_symlink(data, scratch.file("link"));
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(scratch.file("link"), true, {data}); }),
                      "symbolic link"));
  BOOST_TEST(contains(
      error_of([&] { StagedOutputDir(scratch.file("link") + "/out", true, {data}); }), "inside"));
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(data + "/sub/..", true, {data}); }),
                      " is the input "));
  // A dataset folder of links: the folder the links point into is an input too.
  const std::string real = scratch.file("real");
  fs::create_directories(real);
  write_text(real + "/x_train.npy", "x");
  const std::string links = scratch.file("links");
  fs::create_directories(links);
  fs::create_symlink(real + "/x_train.npy", links + "/x_train.npy");
  BOOST_TEST(
      contains(error_of([&] { StagedOutputDir(real, true, {links}); }), "contains the input"));
  fs::remove(scratch.file("link"));
  fs::remove_all(links);
  fs::remove_all(real);
  BOOST_TEST((snapshot(scratch.dir()) == before));
  BOOST_TEST(hidden_beside(data).empty());
  // A sibling folder is fine.
  make_krrdistill_output(scratch.file("out"), "x");
  BOOST_TEST(fs::exists(scratch.file("out/report.json")));
}

BOOST_AUTO_TEST_CASE(force_replaces_only_a_krrdistill_folder) {
  TempDir scratch("output_dir");
  const std::string out = scratch.file("out");
  // A user's folder.
  fs::create_directories(out);
  write_text(out + "/notes.txt", "mine");
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(out, false); }), "already exists"));
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(out, true); }), "no report.json"));
  // A report that does not say krrdistill wrote the folder.
  write_text(out + "/report.json", "{\"command\": \"distill\"}");
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(out, true); }), "does not say"));
  BOOST_TEST(read_text(out + "/notes.txt") == "mine");
  fs::remove_all(out);

  // krrdistill's folder, to which the user added a file.
  make_krrdistill_output(out, "old");
  write_text(out + "/notes.txt", "mine");
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(out, true); }),
                      "holds notes.txt, which krrdistill did not write"));
  fs::create_directories(out + "/sub");
  fs::remove(out + "/notes.txt");
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(out, true); }), "not a regular file"));
  fs::remove(out + "/sub");

  // krrdistill's folder as it wrote it: replaced whole.
  make_krrdistill_output(out, "new");
  BOOST_TEST(read_text(out + "/distilled_X.npy") == "new");
  BOOST_TEST(hidden_beside(out).empty());
}

BOOST_AUTO_TEST_CASE(an_empty_folder_is_used_without_force) {
  TempDir scratch("output_dir");
  const std::string out = scratch.file("out");
  fs::create_directories(out);
  StagedOutputDir dir(out, false);
  write_result(dir, "x");
  dir.commit();
  BOOST_TEST(read_text(out + "/distilled_X.npy") == "x");
}

BOOST_AUTO_TEST_CASE(a_folder_that_appears_during_the_run_is_left_alone) {
  TempDir scratch("output_dir");
  const std::string out = scratch.file("out");
  for (bool force : {false, true}) {
    BOOST_TEST_CONTEXT("force " << force) {
      {
        StagedOutputDir dir(out, force);
        write_result(dir, "x");
        // The user makes the folder while the run works.
        fs::create_directories(out);
        write_text(out + "/notes.txt", "mine");
        const std::string message = error_of([&] { dir.commit(); });
        BOOST_TEST(contains(message, "while this run was working"));
        BOOST_TEST(contains(message, "not published"));
      }
      const Snapshot expected{{"notes.txt", "mine"}};
      BOOST_TEST((snapshot(out) == expected));
      BOOST_TEST(hidden_beside(out).empty());
      fs::remove_all(out);
    }
  }
  // A krrdistill folder written meanwhile by someone else, without --force: kept.
  {
    StagedOutputDir dir(out, false);
    write_result(dir, "mine");
    fs::create_directories(out);
    write_text(out + "/report.json", "{}");
    BOOST_TEST(contains(error_of([&] { dir.commit(); }), "appeared"));
  }
  BOOST_TEST(read_text(out + "/report.json") == "{}");
}

BOOST_AUTO_TEST_CASE(one_run_at_a_time_writes_a_folder) {
  TempDir scratch("output_dir");
  const std::string out = scratch.file("out");
  int ready[2], done[2];
  BOOST_TEST_REQUIRE(::pipe(ready) == 0);
  BOOST_TEST_REQUIRE(::pipe(done) == 0);
  const pid_t child = ::fork();
  if (child == 0) {
    {
      StagedOutputDir dir(out, false);
      write_result(dir, "child");
      char c = 'r';
      if (::write(ready[1], &c, 1) != 1) ::_exit(2);
      if (::read(done[0], &c, 1) != 1) ::_exit(3);
      dir.commit();
    }
    ::_exit(0);
  }
  char c = 0;
  BOOST_TEST_REQUIRE(::read(ready[0], &c, 1) == 1);
  // While the child holds the folder, another run is refused at once, with or without --force.
  for (bool force : {false, true}) {
    const std::string message = error_of([&] { StagedOutputDir(out, force); });
    BOOST_TEST(contains(message, "another krrdistill run (process " + std::to_string(child) +
                                     ") is writing " + out));
  }
  BOOST_TEST(::write(done[1], &c, 1) == 1);
  int status = 0;
  ::waitpid(child, &status, 0);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  BOOST_TEST(read_text(out + "/distilled_X.npy") == "child");
  BOOST_TEST(hidden_beside(out).empty());
}

BOOST_AUTO_TEST_CASE(leftovers_of_a_killed_run_are_removed_by_the_next) {
  TempDir scratch("output_dir");
  const std::string out = scratch.file("out");
  // What kill -9 leaves: a staging folder (ours, or an old version's moved-aside
  // folder) and the lock file.
  const pid_t child = ::fork();
  if (child == 0) {
    StagedOutputDir dir(out, false);
    write_result(dir, "killed");
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  BOOST_TEST(WIFSIGNALED(status));
  fs::create_directories(scratch.file(".out.partial-12.old"));
  write_text(scratch.file(".out.partial-12.old/report.json"), "{}");
  // Not ours: a name that only starts like a staging folder.
  fs::create_directories(scratch.file(".out.partial-x"));
  BOOST_TEST(hidden_beside(out).size() == 4u);

  make_krrdistill_output(out, "next");
  const std::vector<std::string> left = hidden_beside(out);
  BOOST_TEST(left.size() == 1u);
  BOOST_TEST(left.front() == ".out.partial-x");

  // A leftover holding a folder is named, not touched.
  fs::create_directories(scratch.file(".out.partial-13/sub"));
  BOOST_TEST(contains(error_of([&] { StagedOutputDir(out, true); }),
                      ".out.partial-13 is left from a killed run but holds a folder"));
  BOOST_TEST(fs::exists(scratch.file(".out.partial-13/sub")));
}

BOOST_AUTO_TEST_CASE(cli_refuses_to_write_over_its_data) {
  TempDir scratch("output_dir");
  const std::string data = scratch.file("data");
  write_idx_folder(data, 200, 40, 8, 4);
  write_text(scratch.file("sibling.txt"), "keep");
  const Snapshot before = snapshot(scratch.dir());
  for (const std::string& out : {data, scratch.dir(), data + "/out"}) {
    for (const char* command : {"distill", "kip --steps 2", "labelsolve"}) {
      const RunResult r =
          run_cli(std::string(command) + " --data " + data + " --out " + out + " --force --quiet",
                  scratch.path);
      BOOST_TEST_CONTEXT(command << " --out " << out << "\nstderr: " << r.err) {
        BOOST_TEST(r.exit_code != 0);
        BOOST_TEST(r.err.rfind("error: --out ", 0) == 0u);
        BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        BOOST_TEST((snapshot(scratch.dir()) == before));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(cli_two_runs_on_one_folder_exactly_one_publishes) {
  TempDir scratch("output_dir");
  const std::string data = scratch.file("data");
  write_idx_folder(data, 400, 40, 8, 4);
  const std::string out = scratch.file("out");
  // Both start together; whichever comes second finds the lock taken (or,
  // if the first is already done, the folder there).
  std::string script;
  for (int i = 0; i < 2; ++i) {
    const std::string tag = scratch.file("run" + std::to_string(i));
    script += "(" + std::string(KRRDISTILL_CLI) + " distill --data " + data + " --out " + out +
              " --ipc 5 --init noise --quiet >" + tag + ".out 2>" + tag + ".err; echo $? >" + tag +
              ".code) & ";
  }
  script += "wait";
  BOOST_TEST_REQUIRE(std::system(script.c_str()) == 0);
  int published = 0;
  for (int i = 0; i < 2; ++i) {
    const std::string tag = scratch.file("run" + std::to_string(i));
    const int code = std::stoi(read_text(tag + ".code"));
    const std::string err = read_text(tag + ".err");
    BOOST_TEST_CONTEXT("run " << i << " stderr: " << err) {
      if (code == 0) {
        ++published;
        BOOST_TEST(err.empty());
      } else {
        BOOST_TEST((contains(err, "another krrdistill run") || contains(err, "already exists")));
        BOOST_TEST(std::count(err.begin(), err.end(), '\n') == 1);
      }
    }
  }
  BOOST_TEST(published == 1);
  BOOST_TEST(krrdistill::not_written_by_krrdistill(out).empty());
  BOOST_TEST(hidden_beside(out).empty());
}

BOOST_AUTO_TEST_CASE(cli_force_replaces_its_own_output_and_refuses_a_users_folder) {
  TempDir scratch("output_dir");
  const std::string data = scratch.file("data");
  write_idx_folder(data, 200, 40, 8, 4);
  const std::string out = scratch.file("out");
  const std::string args = "distill --data " + data + " --out " + out + " --quiet --ipc 2";
  BOOST_TEST(run_cli(args, scratch.path).exit_code == 0);
  BOOST_TEST(run_cli(args + " --force", scratch.path).exit_code == 0);
  // Its report says what it wrote.
  const nlohmann::json report = nlohmann::json::parse(read_text(out + "/report.json"));
  BOOST_TEST(report.at("output").at("written_by") == "krrdistill");
  std::vector<std::string> listed = report.at("output").at("files"), present;
  for (const auto& entry : fs::directory_iterator(out))
    present.push_back(entry.path().filename().string());
  std::sort(present.begin(), present.end());
  BOOST_TEST(listed == present, boost::test_tools::per_element());
  write_text(out + "/notes.txt", "mine");
  const Snapshot before = snapshot(out);
  const RunResult r = run_cli(args + " --force", scratch.path);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.rfind("error: --force replaces only a folder that krrdistill wrote", 0) == 0u,
             r.err);
  BOOST_TEST((snapshot(out) == before));
}
