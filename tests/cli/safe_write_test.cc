// gpt2q quantize never destroys anything: an output that is, contains or lies
// inside the input is refused, an existing output is replaced only with
// --force and only by a complete new one, a killed run's temporary is cleaned
// and reported, a failed write leaves nothing, and the input stays byte for
// byte the same. Labels: a quantized checkpoint says what it holds.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "cli_runner.h"
#include "io/safetensors.h"

namespace gpt2q {
namespace {

// Every file under `root` (relative path → contents).
std::map<std::string, std::string> Files(const fs::path& root) {
  std::map<std::string, std::string> files;
  if (!fs::exists(root)) return files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = ReadAll(e.path());
  }
  return files;
}

// Runs `command` through the shell; exit code and both outputs.
RunResult RunShell(const std::string& command, const fs::path& scratch) {
  const std::string full = command + " > '" + (scratch / "out").string() + "' 2> '" + (scratch / "err").string() + "'";
  const int status = std::system(full.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadAll(scratch / "out");
  result.err = ReadAll(scratch / "err");
  return result;
}

class SafeWriteCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gpt2q_safewrite_cli_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "scratch");
    // A private copy of the shipped model as the input: its data folder too,
    // so that --synthetic (which reads its tokenizer) has it as its input.
    model_ = dir_ / "data" / "gpt2-tiny-shakespeare";
    fs::create_directories(model_.parent_path());
    fs::copy(fs::path(GPT2Q_DATA_DIR) / "gpt2-tiny-shakespeare", model_, fs::copy_options::recursive);
    fs::copy_file(fs::path(GPT2Q_DATA_DIR) / "tinyshakespeare-heldout.txt",
                  model_.parent_path() / "tinyshakespeare-heldout.txt");
    model_files_ = Files(model_);
  }
  void TearDown() override {
    EXPECT_EQ(Files(model_), model_files_) << "the input model changed";
    fs::remove_all(dir_);
  }

  // Runs gpt2q with GPT2Q_DATA_DIR at the private copy.
  RunResult Run(const std::string& args) {
    return RunShell("env GPT2Q_DATA_DIR='" + (dir_ / "data").string() + "' '" + GPT2Q_BINARY + "' " + args,
                    dir_ / "scratch");
  }
  RunResult Quantize(const std::string& spec, const fs::path& out, const std::string& extra = "") {
    return Run("quantize '" + model_.string() + "' --quant " + spec + " --out '" + out.string() + "' " + extra);
  }
  // The names in dir_ besides data, scratch and `expected`.
  std::vector<std::string> Leftovers(const std::vector<std::string>& expected = {}) {
    std::vector<std::string> extra;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name != "data" && name != "scratch" && std::find(expected.begin(), expected.end(), name) == expected.end()) {
        extra.push_back(name);
      }
    }
    return extra;
  }
  static std::string QuantOf(const fs::path& out) {
    auto file = SafetensorsFile::Open((out / "model.safetensors").string());
    if (!file.ok()) return "unreadable: " + file.message();
    auto it = (*file)->metadata().find("gpt2q.quant");
    return it == (*file)->metadata().end() ? "none" : it->second;
  }

  fs::path dir_, model_;
  std::map<std::string, std::string> model_files_;
};

TEST_F(SafeWriteCliTest, OutputEqualToTheInputIsRefused) {
  for (const char* extra : {"", "--force"}) {
    RunResult r = Quantize("q4_0", model_, extra);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.err.find("the output is the input"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(model_.string()), std::string::npos) << r.err;
  }
  // The same folder through a symlink, and through "..".
  fs::create_directory_symlink(model_, dir_ / "link");
  RunResult r = Quantize("q4_0", dir_ / "link", "--force");
  EXPECT_NE(r.err.find("the output is the input"), std::string::npos) << r.err;
  r = Quantize("q4_0", model_ / ".." / "gpt2-tiny-shakespeare", "--force");
  EXPECT_NE(r.err.find("the output is the input"), std::string::npos) << r.err;
  EXPECT_EQ(Leftovers({"link"}), std::vector<std::string>());
  EXPECT_EQ(Files(model_.parent_path()).size(), model_files_.size() + 1);  // the model and the text
}

TEST_F(SafeWriteCliTest, OutputInsideTheInputIsRefused) {
  for (const char* extra : {"", "--force"}) {
    RunResult r = Quantize("q4_0", model_ / "q4", extra);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.err.find("lies inside the input"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(model_ / "q4"));
  }
}

TEST_F(SafeWriteCliTest, OutputContainingTheInputIsRefused) {
  RunResult r = Quantize("q4_0", dir_ / "data", "--force");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("contains the input"), std::string::npos) << r.err;
  r = Quantize("q4_0", dir_, "--force");
  EXPECT_NE(r.err.find("contains the input"), std::string::npos) << r.err;
  EXPECT_EQ(Leftovers(), std::vector<std::string>());
}

TEST_F(SafeWriteCliTest, SyntheticModelsProtectTheTokenizerTheyRead) {
  RunResult r = Run("quantize --synthetic gpt2 --quant q4_0 --out '" + (model_ / "q").string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("lies inside the input"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(model_ / "q"));
}

TEST_F(SafeWriteCliTest, AnExistingOutputIsKeptWithoutForceAndReplacedWithIt) {
  const fs::path out = dir_ / "out";
  ASSERT_EQ(Quantize("q8_0", out).exit_code, 0);
  fs::copy_file(model_ / "config.json", out / "extra-old-file.json");
  const auto old_files = Files(out);

  RunResult refused = Quantize("q4_0", out);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.err.find("exists and is not empty"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
  EXPECT_EQ(Files(out), old_files);
  EXPECT_EQ(Leftovers({"out"}), std::vector<std::string>());

  RunResult replaced = Quantize("q4_0", out, "--force");
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_EQ(QuantOf(out), "q4_0");
  EXPECT_FALSE(fs::exists(out / "extra-old-file.json"));  // a new folder, not files written over the old
  for (const char* f : {"model.safetensors", "config.json", "vocab.json", "merges.txt"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  EXPECT_EQ(Files(out).size(), 4u);
  EXPECT_EQ(Leftovers({"out"}), std::vector<std::string>());
  EXPECT_EQ(Run("perplexity '" + out.string() + "' --max-tokens 50").exit_code, 0);
}

TEST_F(SafeWriteCliTest, AFileWhereTheFolderGoesIsAnErrorEvenWithForce) {
  fs::copy_file(model_ / "config.json", dir_ / "out");
  RunResult r = Quantize("q4_0", dir_ / "out", "--force");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("is a file; expected a folder"), std::string::npos) << r.err;
  EXPECT_EQ(ReadAll(dir_ / "out"), model_files_.at("config.json"));
}

TEST_F(SafeWriteCliTest, AStaleTemporaryOfAKilledRunIsRemovedAndReported) {
  // A run killed while writing: its PID is gone, its staging folder is not.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const fs::path stale = dir_ / (".out.gpt2q-tmp-" + std::to_string(child));
  fs::create_directories(stale);
  fs::copy_file(model_ / "config.json", stale / "config.json");
  std::ofstream(stale / "model.safetensors.tmp") << "half a file";
  const fs::path unrelated = dir_ / ".out.gpt2q-tmp-x1";  // not the exact pattern: kept
  fs::create_directories(unrelated);

  RunResult r = Quantize("q4_0", dir_ / "out");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(unrelated));
  EXPECT_NE(r.out.find("note       removed " + fs::weakly_canonical(stale).string() +
                       ", the stale temporary of a killed run (process " + std::to_string(child) + ")"),
            std::string::npos)
      << r.out;

  fs::create_directories(stale);
  nlohmann::json j = ParseJson(Run("quantize '" + model_.string() + "' --quant q8_0 --force --json --out '" +
                                   (dir_ / "out").string() + "'"));
  ASSERT_EQ(j["write_notes"].size(), 1u) << j.dump();
  EXPECT_NE(j["write_notes"][0].get<std::string>().find("stale temporary"), std::string::npos);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_EQ(Leftovers({"out", ".out.gpt2q-tmp-x1"}), std::vector<std::string>());
}

TEST_F(SafeWriteCliTest, AFailingWriteLeavesNothingBehind) {
  // The file-size limit makes writing model.safetensors fail (EFBIG; SIGXFSZ
  // ignored) after the staging folder and config.json exist.
  const std::string limited = "sh -c \"trap '' XFSZ; ulimit -f 64; exec env GPT2Q_DATA_DIR='" +
                              (dir_ / "data").string() + "' '" + GPT2Q_BINARY + "' quantize '" + model_.string() +
                              "' --quant q4_0 --out '%s' %s\"";
  auto run_limited = [&](const fs::path& out, const std::string& extra) {
    std::string command = limited;
    command.replace(command.find("%s"), 2, out.string());
    command.replace(command.find("%s"), 2, extra);
    return RunShell(command, dir_ / "scratch");
  };
  RunResult r = run_limited(dir_ / "new" / "out", "");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
  EXPECT_EQ(Leftovers(), std::vector<std::string>());  // not even the parent it created

  // With --force, the old output survives a failed replacement.
  ASSERT_EQ(Quantize("q8_0", dir_ / "out").exit_code, 0);
  const auto old_files = Files(dir_ / "out");
  r = run_limited(dir_ / "out", "--force");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(Files(dir_ / "out"), old_files);
  EXPECT_EQ(Leftovers({"out"}), std::vector<std::string>());

  // A parent that cannot hold a folder.
  fs::copy_file(model_ / "config.json", dir_ / "plain");
  r = Quantize("q4_0", dir_ / "plain" / "out");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(Leftovers({"out", "plain"}), std::vector<std::string>());
  if (geteuid() != 0) {  // root writes through permissions
    fs::create_directory(dir_ / "locked");
    fs::permissions(dir_ / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    r = Quantize("q4_0", dir_ / "locked" / "out");
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(fs::is_empty(dir_ / "locked"));
    fs::permissions(dir_ / "locked", fs::perms::owner_all);
  }
}

TEST_F(SafeWriteCliTest, AQuantizedCheckpointIsLabelledWithWhatItRecords) {
  const fs::path out = dir_ / "q4";
  ASSERT_EQ(Quantize("q4_0", out).exit_code, 0);
  RunResult text = Run("perplexity '" + out.string() + "' --max-tokens 100");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("quant      q4_0 (scope linear, packed mode; recorded in the checkpoint)"),
            std::string::npos)
      << text.out;
  EXPECT_EQ(text.out.find("quant      fp32"), std::string::npos) << text.out;

  nlohmann::json j = ParseJson(Run("perplexity '" + out.string() + "' --max-tokens 100 --json"));
  EXPECT_EQ(j["quant"], "q4_0");
  EXPECT_EQ(j["scope"], "linear");
  EXPECT_EQ(j["mode"], "packed");
  EXPECT_EQ(j["quant_source"], "checkpoint");
  nlohmann::json plain = ParseJson(Run("perplexity '" + model_.string() + "' --max-tokens 100 --json"));
  EXPECT_EQ(plain["quant"], "fp32");
  EXPECT_EQ(plain["quant_source"], "none");
  nlohmann::json applied = ParseJson(Run("perplexity '" + model_.string() + "' --quant q4_0 --max-tokens 100 --json"));
  EXPECT_EQ(applied["quant_source"], "applied");
  EXPECT_EQ(applied["ppl"], j["ppl"]);

  nlohmann::json info = ParseJson(Run("info '" + out.string() + "' --json"));
  EXPECT_EQ(info["recorded_quant"]["quant"], "q4_0");
  EXPECT_TRUE(ParseJson(Run("info '" + model_.string() + "' --json"))["recorded_quant"].is_null());
  RunResult info_text = Run("info '" + out.string() + "'");
  EXPECT_NE(info_text.out.find("q4_0 (scope linear, packed mode; recorded in the checkpoint)"), std::string::npos)
      << info_text.out;
}

TEST_F(SafeWriteCliTest, QuantizingAQuantizedCheckpointAgainIsRefused) {
  const fs::path out = dir_ / "q4";
  ASSERT_EQ(Quantize("q4_0", out).exit_code, 0);
  const auto q4_files = Files(out);
  RunResult again = Run("quantize '" + out.string() + "' --quant q8_0 --out '" + (dir_ / "q4q8").string() + "'");
  EXPECT_EQ(again.exit_code, 1) << again.out;
  EXPECT_NE(again.err.find("is a gpt2q quantized checkpoint (q4_0, scope linear, packed mode)"), std::string::npos)
      << again.err;
  EXPECT_FALSE(fs::exists(dir_ / "q4q8"));
  RunResult ppl = Run("perplexity '" + out.string() + "' --quant q8_0 --max-tokens 50");
  EXPECT_EQ(ppl.exit_code, 1) << ppl.out;
  EXPECT_NE(ppl.err.find("--quant q8_0 needs an fp32, F16 or BF16 checkpoint"), std::string::npos) << ppl.err;
  RunResult kld = Run("perplexity '" + out.string() + "' --kld --max-tokens 50");
  EXPECT_EQ(kld.exit_code, 1) << kld.out;
  EXPECT_NE(kld.err.find("--kld"), std::string::npos) << kld.err;
  EXPECT_EQ(Files(out), q4_files);
  EXPECT_EQ(Leftovers({"q4"}), std::vector<std::string>());
}

TEST_F(SafeWriteCliTest, HelpNamesForceAndTheStaging) {
  RunResult r = Run("quantize --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--force"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gpt2q-tmp"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace gpt2q
