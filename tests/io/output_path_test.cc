// Output paths: an output that is, contains or lies inside an input is refused
// (through symlinks and "..", for folder and file inputs); what exists there.
#include "io/output_path.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include "safe_write_fixture.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;

using testing::SafeWriteTest;
using testing::WriteFile;

class OutputPathTest : public SafeWriteTest {
 protected:
  // The error of an output `out` against the input folder "model", or "" if accepted.
  std::string Check(const fs::path& out, const fs::path& input) {
    Status s = CheckOutputApartFromInputs(out.string(), {input.string()});
    return s.ok() ? "" : s.message();
  }
};

TEST_F(OutputPathTest, OutputEqualToTheInputIsRefused) {
  const fs::path model = dir_ / "model";
  EXPECT_NE(Check(model, model).find("the output is the input"), std::string::npos);
  EXPECT_NE(Check(model.string() + "/", model).find("the output is the input"), std::string::npos);
  EXPECT_NE(Check(dir_ / "x" / ".." / "model", model).find("the output is the input"), std::string::npos);
  const std::string message = Check(model, model);
  EXPECT_NE(message.find(model.string()), std::string::npos) << message;
}

TEST_F(OutputPathTest, OutputInsideTheInputIsRefused) {
  const fs::path model = dir_ / "model";
  EXPECT_NE(Check(model / "q4", model).find("lies inside the input"), std::string::npos);
  EXPECT_NE(Check(model / "a" / "b", model).find("lies inside the input"), std::string::npos);
}

TEST_F(OutputPathTest, OutputContainingTheInputIsRefused) {
  const fs::path model = dir_ / "model";
  EXPECT_NE(Check(dir_, model).find("contains the input"), std::string::npos);
  EXPECT_NE(Check("/", model).find("contains the input"), std::string::npos);
}

TEST_F(OutputPathTest, SymlinksAreResolved) {
  const fs::path model = dir_ / "model";
  fs::create_directory_symlink(model, dir_ / "link");
  EXPECT_NE(Check(dir_ / "link", model).find("the output is the input"), std::string::npos);
  EXPECT_NE(Check(dir_ / "link" / "out", model).find("lies inside the input"), std::string::npos);
  // The input given through the link.
  EXPECT_NE(Check(model, dir_ / "link").find("the output is the input"), std::string::npos);
  fs::create_directory_symlink(dir_, dir_ / "model" / "up");
  EXPECT_NE(Check(model / "up", model).find("contains the input"), std::string::npos);
}

TEST_F(OutputPathTest, AFileInputIsItsFile) {
  const fs::path file = dir_ / "model" / "model.safetensors";
  EXPECT_NE(Check(file, file).find("the output is the input"), std::string::npos);
  EXPECT_NE(Check(dir_ / "model", file).find("contains the input"), std::string::npos);
  // Its siblings are fine: a single-file input protects only its file.
  EXPECT_EQ(Check(dir_ / "model" / "other.gguf", file), "");
}

TEST_F(OutputPathTest, SiblingsAndPrefixNamesAreAccepted) {
  const fs::path model = dir_ / "model";
  EXPECT_EQ(Check(dir_ / "model-q4", model), "");   // a name prefix is not a parent
  EXPECT_EQ(Check(dir_ / "mode", model), "");
  EXPECT_EQ(Check(dir_ / "out" / "q4", model), "");
  EXPECT_EQ(CheckOutputApartFromInputs((dir_ / "out").string(), {}).ok(), true);
}

TEST_F(OutputPathTest, ABindMountOfTheInputIsCaughtByIdentity) {
  const fs::path model = dir_ / "model";
  fs::create_directory(dir_ / "bind");
  if (::mount(model.c_str(), (dir_ / "bind").c_str(), nullptr, MS_BIND, nullptr) != 0) {
    GTEST_SKIP() << "bind mounts need privileges this run does not have";
  }
  const std::string same = Check(dir_ / "bind", model);
  const std::string inside = Check(dir_ / "bind" / "out", model);
  ::umount((dir_ / "bind").c_str());
  EXPECT_NE(same.find("the output is the input"), std::string::npos) << same;
  EXPECT_NE(inside.find("lies inside the input"), std::string::npos) << inside;
}

TEST_F(OutputPathTest, InspectSaysWhatIsThere) {
  EXPECT_EQ(InspectOutput((dir_ / "none").string(), OutputKind::kFolder).value(), OutputState::kAbsent);
  fs::create_directory(dir_ / "empty");
  EXPECT_EQ(InspectOutput((dir_ / "empty").string(), OutputKind::kFolder).value(), OutputState::kEmpty);
  EXPECT_EQ(InspectOutput((dir_ / "model").string(), OutputKind::kFolder).value(), OutputState::kNonEmpty);
  const fs::path file = dir_ / "model" / "config.json";
  EXPECT_EQ(InspectOutput(file.string(), OutputKind::kFile).value(), OutputState::kNonEmpty);
  WriteFile(dir_ / "zero", "");
  EXPECT_EQ(InspectOutput((dir_ / "zero").string(), OutputKind::kFile).value(), OutputState::kEmpty);
}

TEST_F(OutputPathTest, InspectRefusesTheWrongKindAndDanglingLinks) {
  auto folder_as_file = InspectOutput((dir_ / "model").string(), OutputKind::kFile);
  ASSERT_FALSE(folder_as_file.ok());
  EXPECT_NE(folder_as_file.message().find("is a folder; expected a file"), std::string::npos)
      << folder_as_file.message();
  auto file_as_folder = InspectOutput((dir_ / "model" / "config.json").string(), OutputKind::kFolder);
  ASSERT_FALSE(file_as_folder.ok());
  EXPECT_NE(file_as_folder.message().find("is a file; expected a folder"), std::string::npos)
      << file_as_folder.message();
  fs::create_symlink(dir_ / "nowhere", dir_ / "dangling");
  auto dangling = InspectOutput((dir_ / "dangling").string(), OutputKind::kFolder);
  ASSERT_FALSE(dangling.ok());
  EXPECT_NE(dangling.message().find("symlink to nothing"), std::string::npos) << dangling.message();
}

TEST_F(OutputPathTest, ResolveRefusesAnEmptyPath) {
  EXPECT_FALSE(ResolveOutputPath("").ok());
  auto resolved = ResolveOutputPath((dir_ / "a" / ".." / "b" / "").string());
  ASSERT_TRUE(resolved.ok()) << resolved.message();
  EXPECT_EQ(resolved.value(), (fs::weakly_canonical(dir_) / "b").string());
}

}  // namespace
}  // namespace gpt2q
