// StagedOutput: nothing at the output path until Commit, the old output kept
// until the new one is complete, stale temporaries of killed runs cleaned,
// nothing left behind on failure, inputs never touched.
#include "io/staged_output.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "safe_write_fixture.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;

using testing::DeadPid;
using testing::SafeWriteTest;
using testing::Snapshot;
using testing::WriteFile;

class StagedOutputTest : public SafeWriteTest {
 protected:
  StagedOutputOptions Folder(bool force = false) {
    StagedOutputOptions options;
    options.inputs = {(dir_ / "model").string()};
    options.force = force;
    return options;
  }
  // Writes a two-file "model" whose contents say `tag` into `folder`.
  static void WriteOutput(const fs::path& folder, const std::string& tag) {
    WriteFile(folder / "model.safetensors", "weights " + tag);
    WriteFile(folder / "sub" / "config.json", "config " + tag);
  }
  // The entries of dir_ other than "model" and the names in `expected`.
  std::vector<std::string> Leftovers(const std::vector<std::string>& expected) {
    std::vector<std::string> extra;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name != "model" && std::find(expected.begin(), expected.end(), name) == expected.end()) {
        extra.push_back(name);
      }
    }
    return extra;
  }
};

TEST_F(StagedOutputTest, ANewFolderAppearsCompleteAtCommit) {
  const auto model_before = Snapshot(dir_ / "model");
  const fs::path out = dir_ / "out";
  auto staged = StagedOutput::Begin(out.string(), Folder());
  ASSERT_TRUE(staged.ok()) << staged.message();
  EXPECT_EQ(fs::path(staged->staging_path()).parent_path(), fs::weakly_canonical(dir_));
  EXPECT_EQ(fs::path(staged->staging_path()).filename(), ".out.gpt2q-tmp-" + std::to_string(::getpid()));
  WriteOutput(staged->staging_path(), "new");
  EXPECT_FALSE(fs::exists(out));
  ASSERT_TRUE(staged->Commit().ok());
  EXPECT_EQ(Snapshot(out), (std::map<std::string, std::string>{{"model.safetensors", "weights new"},
                                                               {"sub", "/"},
                                                               {"sub/config.json", "config new"}}));
  EXPECT_TRUE(Leftovers({"out"}).empty());
  EXPECT_EQ(Snapshot(dir_ / "model"), model_before);
  EXPECT_TRUE(staged->notes().empty());
}

TEST_F(StagedOutputTest, AnUncommittedOutputLeavesNothingBehind) {
  {
    auto staged = StagedOutput::Begin((dir_ / "a" / "b" / "out").string(), Folder());
    ASSERT_TRUE(staged.ok()) << staged.message();
    EXPECT_TRUE(fs::is_directory(dir_ / "a" / "b"));  // parents made for the staging folder
    WriteOutput(staged->staging_path(), "half");
  }  // an error path: the writer returned before Commit
  EXPECT_TRUE(Leftovers({}).empty()) << Leftovers({})[0];
}

TEST_F(StagedOutputTest, ExistingNonEmptyOutputIsRefusedAndUntouched) {
  WriteOutput(dir_ / "out", "old");
  const auto before = Snapshot(dir_ / "out");
  auto staged = StagedOutput::Begin((dir_ / "out").string(), Folder());
  ASSERT_FALSE(staged.ok());
  EXPECT_NE(staged.message().find("exists and is not empty"), std::string::npos) << staged.message();
  EXPECT_NE(staged.message().find("--force"), std::string::npos) << staged.message();
  EXPECT_EQ(Snapshot(dir_ / "out"), before);
  EXPECT_TRUE(Leftovers({"out"}).empty());
}

TEST_F(StagedOutputTest, AnEmptyFolderIsFilledWithoutForce) {
  fs::create_directory(dir_ / "out");
  auto staged = StagedOutput::Begin((dir_ / "out").string(), Folder());
  ASSERT_TRUE(staged.ok()) << staged.message();
  WriteOutput(staged->staging_path(), "new");
  ASSERT_TRUE(staged->Commit().ok());
  EXPECT_EQ(Snapshot(dir_ / "out").at("model.safetensors"), "weights new");
  EXPECT_TRUE(Leftovers({"out"}).empty());
}

// With force, by RENAME_EXCHANGE and by the rename-aside fallback.
class StagedForceTest : public StagedOutputTest, public ::testing::WithParamInterface<bool> {};

TEST_P(StagedForceTest, TheOldOutputStaysUntilTheNewOneIsComplete) {
  WriteOutput(dir_ / "out", "old");
  WriteFile(dir_ / "out" / "only-in-old", "x");
  const auto old = Snapshot(dir_ / "out");
  StagedOutputOptions options = Folder(/*force=*/true);
  options.allow_exchange = GetParam();
  auto staged = StagedOutput::Begin((dir_ / "out").string(), options);
  ASSERT_TRUE(staged.ok()) << staged.message();
  WriteOutput(staged->staging_path(), "new");
  EXPECT_EQ(Snapshot(dir_ / "out"), old);
  Status committed = staged->Commit();
  ASSERT_TRUE(committed.ok()) << committed.message();
  EXPECT_EQ(Snapshot(dir_ / "out"), (std::map<std::string, std::string>{{"model.safetensors", "weights new"},
                                                                        {"sub", "/"},
                                                                        {"sub/config.json", "config new"}}));
  EXPECT_TRUE(Leftovers({"out"}).empty());
}

TEST_P(StagedForceTest, AFailedWriteKeepsTheOldOutput) {
  WriteOutput(dir_ / "out", "old");
  const auto old = Snapshot(dir_ / "out");
  StagedOutputOptions options = Folder(/*force=*/true);
  options.allow_exchange = GetParam();
  {
    auto staged = StagedOutput::Begin((dir_ / "out").string(), options);
    ASSERT_TRUE(staged.ok()) << staged.message();
    WriteOutput(staged->staging_path(), "half");
  }
  EXPECT_EQ(Snapshot(dir_ / "out"), old);
  EXPECT_TRUE(Leftovers({"out"}).empty());
}

INSTANTIATE_TEST_SUITE_P(ExchangeOrAside, StagedForceTest, ::testing::Bool());

TEST_F(StagedOutputTest, ForceStillRefusesTheWrongKindAndTheInput) {
  WriteFile(dir_ / "file", "a file");
  auto file = StagedOutput::Begin((dir_ / "file").string(), Folder(/*force=*/true));
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.message().find("is a file; expected a folder"), std::string::npos) << file.message();
  EXPECT_EQ(Snapshot(dir_).at("file"), "a file");

  const auto model = Snapshot(dir_ / "model");
  for (const fs::path& out : {dir_ / "model", dir_ / "model" / "q", fs::path(dir_)}) {
    auto staged = StagedOutput::Begin(out.string(), Folder(/*force=*/true));
    EXPECT_FALSE(staged.ok()) << out;
  }
  EXPECT_EQ(Snapshot(dir_ / "model"), model);
  EXPECT_TRUE(Leftovers({"file"}).empty());
}

TEST_F(StagedOutputTest, ForceRefusesTheRootAndTheWorkingFolder) {
  EXPECT_FALSE(StagedOutput::Begin("/", Folder(true)).ok());
  const fs::path cwd = fs::current_path();
  fs::create_directories(dir_ / "work" / "here");
  fs::current_path(dir_ / "work" / "here");
  auto staged = StagedOutput::Begin((dir_ / "work").string(), Folder(true));
  fs::current_path(cwd);
  ASSERT_FALSE(staged.ok());
  EXPECT_NE(staged.message().find("current working folder"), std::string::npos) << staged.message();
  EXPECT_TRUE(fs::is_directory(dir_ / "work" / "here"));
}

TEST_F(StagedOutputTest, StaleTemporariesOfDeadRunsAreRemovedAndReported) {
  const long dead = DeadPid();
  const std::string stale = ".out.gpt2q-tmp-" + std::to_string(dead);
  WriteOutput(dir_ / stale, "killed");
  // Look-alikes that must survive: other outputs, malformed PIDs, a live run.
  const std::vector<std::string> keep = {".out.gpt2q-tmp-" + std::to_string(dead) + "x",
                                         ".out.gpt2q-tmp-0" + std::to_string(dead),
                                         ".out.gpt2q-tmp-",
                                         ".other.gpt2q-tmp-" + std::to_string(dead),
                                         "out.gpt2q-tmp-" + std::to_string(dead),
                                         ".out.gpt2q-tmp-" + std::to_string(::getppid())};
  for (const std::string& name : keep) WriteFile(dir_ / name / "f", "keep");
  auto staged = StagedOutput::Begin((dir_ / "out").string(), Folder());
  ASSERT_TRUE(staged.ok()) << staged.message();
  EXPECT_FALSE(fs::exists(dir_ / stale));
  for (const std::string& name : keep) EXPECT_TRUE(fs::exists(dir_ / name / "f")) << name;
  ASSERT_EQ(staged->notes().size(), 2u);
  std::string notes = staged->notes()[0] + "\n" + staged->notes()[1];
  EXPECT_NE(notes.find("removed " + (fs::weakly_canonical(dir_) / stale).string() + ", the stale temporary"),
            std::string::npos) << notes;
  EXPECT_NE(notes.find("still running"), std::string::npos) << notes;
}

TEST_F(StagedOutputTest, AnOldOutputLeftAsideIsRestoredWhenTheOutputIsMissing) {
  const long dead = DeadPid();
  // Killed between "old aside" and "new in": the output path is empty.
  WriteOutput(dir_ / (".out.gpt2q-old-" + std::to_string(dead)), "old");
  WriteOutput(dir_ / (".out.gpt2q-tmp-" + std::to_string(dead)), "new");
  auto staged = StagedOutput::Begin((dir_ / "out").string(), Folder());
  ASSERT_FALSE(staged.ok());  // the restored output is there again: not replaced without force
  EXPECT_EQ(Snapshot(dir_ / "out").at("model.safetensors"), "weights old");
  EXPECT_TRUE(Leftovers({"out"}).empty());

  // Killed after "new in": the aside copy is the stale one.
  WriteOutput(dir_ / (".out.gpt2q-old-" + std::to_string(dead)), "older");
  auto again = StagedOutput::Begin((dir_ / "out").string(), Folder(/*force=*/true));
  ASSERT_TRUE(again.ok()) << again.message();
  ASSERT_EQ(again->notes().size(), 1u);
  EXPECT_NE(again->notes()[0].find("the replaced output left by an interrupted run"), std::string::npos)
      << again->notes()[0];
  EXPECT_EQ(Snapshot(dir_ / "out").at("model.safetensors"), "weights old");
}

TEST_F(StagedOutputTest, AnOutputThatAppearsMeanwhileIsLeftAlone) {
  auto staged = StagedOutput::Begin((dir_ / "out").string(), Folder());
  ASSERT_TRUE(staged.ok()) << staged.message();
  WriteOutput(staged->staging_path(), "mine");
  WriteOutput(dir_ / "out", "theirs");
  Status committed = staged->Commit();
  ASSERT_FALSE(committed.ok());
  EXPECT_NE(committed.message().find("appeared while"), std::string::npos) << committed.message();
  EXPECT_EQ(Snapshot(dir_ / "out").at("model.safetensors"), "weights theirs");
}

TEST_F(StagedOutputTest, FileOutputs) {
  StagedOutputOptions options;
  options.kind = OutputKind::kFile;
  options.inputs = {(dir_ / "model" / "model.safetensors").string()};
  const fs::path out = dir_ / "model.gguf";
  {
    auto staged = StagedOutput::Begin(out.string(), options);
    ASSERT_TRUE(staged.ok()) << staged.message();
    Status nothing = staged->Commit();
    EXPECT_NE(nothing.message().find("nothing was written"), std::string::npos) << nothing.message();
    WriteFile(staged->staging_path(), "v1");
    ASSERT_TRUE(staged->Commit().ok());
  }
  EXPECT_EQ(Snapshot(dir_).at("model.gguf"), "v1");
  EXPECT_FALSE(StagedOutput::Begin(out.string(), options).ok());  // exists, no force
  options.force = true;
  {
    auto staged = StagedOutput::Begin(out.string(), options);
    ASSERT_TRUE(staged.ok()) << staged.message();
    WriteFile(staged->staging_path(), "v2");
    EXPECT_EQ(Snapshot(dir_).at("model.gguf"), "v1");
    ASSERT_TRUE(staged->Commit().ok());
  }
  EXPECT_EQ(Snapshot(dir_).at("model.gguf"), "v2");
  auto into_input = StagedOutput::Begin((dir_ / "model" / "model.safetensors").string(), options);
  EXPECT_FALSE(into_input.ok());
  EXPECT_TRUE(Leftovers({"model.gguf"}).empty());
}

TEST_F(StagedOutputTest, AParentThatIsAFileFailsCleanly) {
  WriteFile(dir_ / "plain", "x");
  auto staged = StagedOutput::Begin((dir_ / "plain" / "out").string(), Folder());
  ASSERT_FALSE(staged.ok());
  EXPECT_NE(staged.message().find("plain"), std::string::npos) << staged.message();
  EXPECT_TRUE(Leftovers({"plain"}).empty());
}

}  // namespace
}  // namespace gpt2q
