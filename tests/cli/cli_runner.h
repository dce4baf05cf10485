// Runs the gpt2q binary for end-to-end tests: exit code, stdout, stderr.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace gpt2q {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `gpt2q ARGS` through the shell (args are shell-quoted by the caller),
// without GPT2Q_DATA_DIR so that the binary finds data/ from its own path.
inline RunResult RunGpt2q(const std::string& args) {
  const fs::path dir = fs::temp_directory_path() / ("gpt2q_cli_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string command = "env -u GPT2Q_DATA_DIR '" + std::string(GPT2Q_BINARY) + "' " + args +
                              " > '" + (dir / "out").string() + "' 2> '" + (dir / "err").string() + "'";
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadAll(dir / "out");
  result.err = ReadAll(dir / "err");
  fs::remove_all(dir);
  return result;
}

inline nlohmann::json ParseJson(const RunResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "stdout is not JSON:\n" << r.out;
  return j;
}

}  // namespace gpt2q
