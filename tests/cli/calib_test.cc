// Calibrated methods end to end: --calib and its defaults, the report naming
// the calibration, the saved checkpoint reloading bit-identically, and every
// bad calibration input failing cleanly with nothing written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_runner.h"

namespace gpt2q {
namespace {

class CalibCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gpt2q_calib_test_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(CalibCliTest, QuantizeNamesTheCalibrationAndReloadsBitIdentically) {
  const std::string out = (dir_ / "sq").string();
  const std::string calib = "--calib-samples 8 --calib-len 64";
  nlohmann::json q = ParseJson(RunGpt2q("quantize --quant smoothquant:act=static --scope no-lm-head " + calib +
                                        " --out '" + out + "' --json"));
  ASSERT_TRUE(q.contains("calibration"));
  EXPECT_NE(q["calibration"]["file"].get<std::string>().find("tinyshakespeare-calib.txt"), std::string::npos);
  EXPECT_EQ(q["calibration"]["samples"], 8);
  EXPECT_EQ(q["calibration"]["len"], 64);
  EXPECT_EQ(q["calibration"]["text_tokens"], 30645);
  EXPECT_EQ(q["quant"], "smoothquant:alpha=0.5,act=static");
  nlohmann::json saved = ParseJson(RunGpt2q("perplexity '" + out + "' --max-tokens 600 --json"));
  nlohmann::json direct = ParseJson(RunGpt2q("perplexity --quant smoothquant:act=static --scope no-lm-head " +
                                             calib + " --max-tokens 600 --json"));
  EXPECT_EQ(saved["ppl"], direct["ppl"]);
  EXPECT_EQ(saved["nll_sum"], direct["nll_sum"]);
  EXPECT_EQ(direct["calibration"]["samples"], 8);
  // Methods that need no calibration say nothing about it.
  nlohmann::json plain = ParseJson(RunGpt2q("perplexity --quant absmax --max-tokens 300 --json"));
  EXPECT_TRUE(plain["calibration"].is_null());
}

TEST_F(CalibCliTest, DefaultLengthIsMin512NCtxAndTextFollowsTheModel) {
  // The shipped model: its n_ctx 256 caps the default window length.
  nlohmann::json shipped = ParseJson(RunGpt2q("perplexity --quant smoothquant --calib-samples 2 --max-tokens 300 --json"));
  EXPECT_EQ(shipped["calibration"]["len"], 256);
  // Any other model folder: WikiText-2's validation text.
  const std::string copy = (dir_ / "model").string();
  fs::copy(std::string(GPT2Q_DATA_DIR) + "/gpt2-tiny-shakespeare", copy);
  nlohmann::json other =
      ParseJson(RunGpt2q("perplexity '" + copy + "' --quant smoothquant --calib-samples 2 --max-tokens 300 --json"));
  EXPECT_NE(other["calibration"]["file"].get<std::string>().find("wikitext2-valid.txt"), std::string::npos);
}

TEST_F(CalibCliTest, BadCalibrationInputFailsCleanly) {
  const std::string missing = (dir_ / "nope.txt").string();
  const std::string empty = Write("empty.txt", "");
  const std::string latin1 = Write("latin1.txt", "caf\xe9 au lait, and more words to make tokens");
  const std::string tiny = Write("tiny.txt", "Only a few tokens here.");
  const std::pair<std::string, std::string> cases[] = {
      {"--calib '" + missing + "'", "nope.txt"},
      {"--calib '" + empty + "'", "empty"},
      {"--calib '" + latin1 + "'", "UTF-8"},
      {"--calib '" + tiny + "'", "shorter than one window"},
      {"--calib-samples 0", "--calib-samples"},
      {"--calib-len 100000", "--calib-len"},
  };
  for (const auto& [args, expected] : cases) {
    SCOPED_TRACE(args);
    const std::string out = (dir_ / "out").string();
    RunResult r = RunGpt2q("quantize --quant smoothquant " + args + " --out '" + out + "'");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
    RunResult p = RunGpt2q("perplexity --quant w8a8:act=static --max-tokens 300 " + args);
    EXPECT_NE(p.exit_code, 0);
    EXPECT_NE(p.err.find(expected), std::string::npos) << p.err;
  }
  RunResult bad_option = RunGpt2q("perplexity --quant smoothquant:act=dynamic --max-tokens 300");
  EXPECT_NE(bad_option.exit_code, 0);
  EXPECT_NE(bad_option.err.find("token, static"), std::string::npos) << bad_option.err;
}

TEST_F(CalibCliTest, HelpListsTheCalibrationOptionsAndWordOptions) {
  RunResult r = RunGpt2q("perplexity --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--calib-samples"), std::string::npos);
  EXPECT_NE(r.out.find("act=token|static (default token)"), std::string::npos);
  EXPECT_NE(r.out.find("calibrated methods only"), std::string::npos);
}

}  // namespace
}  // namespace gpt2q
