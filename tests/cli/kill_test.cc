// The kill test in small: scripts/kill_test.sh sends SIGKILL to six quantize
// runs of the shipped model at random moments and checks that the output is
// absent, the complete old one or the complete new one, and the input intact.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "cli_runner.h"

namespace gpt2q {
namespace {

TEST(KillTest, SixKillsLeaveNothingHalfWritten) {
  const fs::path script = fs::path(GPT2Q_DATA_DIR).parent_path() / "scripts" / "kill_test.sh";
  ASSERT_TRUE(fs::exists(script)) << script;
  const fs::path log = fs::temp_directory_path() / ("gpt2q_kill_test_" + std::to_string(getpid()) + ".log");
  const std::string command = "bash '" + script.string() + "' --kills 6 --source folder --threads 1 --binary '" +
                              GPT2Q_BINARY + "' > '" + log.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  const std::string output = ReadAll(log);
  fs::remove(log);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  EXPECT_NE(output.find("kill test: 6 kills"), std::string::npos) << output;
  EXPECT_NE(output.find("failures: 0"), std::string::npos) << output;
  std::cout << output;
}

}  // namespace
}  // namespace gpt2q
