// zeroquant:lkd=1 through the CLI: quantize reports the per-block distillation
// loss in --json and writes a checkpoint that reloads bit-identically; the
// same command twice gives the same numbers; perplexity, generate and bench
// run it; plain zeroquant needs no calibration.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "cli_runner.h"

namespace gpt2q {
namespace {

// Short calibration: this checks the plumbing, not the quality (see
// tests/quant/zeroquant_lkd_test.cc for that).
const std::string kLkd = "--quant zeroquant:bits=4,lkd=1,lkd_steps=5,lkd_batch=2 --scope no-lm-head "
                         "--calib-samples 4 --calib-len 64";

TEST(LkdCliTest, QuantizeReportsBlockLossesAndReloadsBitIdentically) {
  const fs::path dir = fs::temp_directory_path() / ("gpt2q_lkd_test_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const std::string out = (dir / "lkd").string();
  nlohmann::json q = ParseJson(RunGpt2q("quantize " + kLkd + " --out '" + out + "' --json"));
  EXPECT_EQ(q["quant"], "zeroquant:group=64,bits=4,lkd=1,lkd_steps=5,lkd_lr=0.0001,lkd_batch=2");
  EXPECT_EQ(q["calibration"]["samples"], 4);
  ASSERT_TRUE(q["distillation"].is_array());
  ASSERT_EQ(q["distillation"].size(), 4u);  // the shipped model's 4 blocks
  for (int b = 0; b < 4; ++b) {
    const auto& row = q["distillation"][b];
    EXPECT_EQ(row["block"], b);
    EXPECT_EQ(row["steps"], 5);
    EXPECT_GT(row["loss_before"].get<double>(), 0.0);
    EXPECT_LT(row["loss_after"].get<double>(), row["loss_before"].get<double>()) << "block " << b;
  }
  nlohmann::json saved = ParseJson(RunGpt2q("perplexity '" + out + "' --max-tokens 600 --json"));
  nlohmann::json direct = ParseJson(RunGpt2q("perplexity " + kLkd + " --max-tokens 600 --json"));
  EXPECT_EQ(saved["ppl"], direct["ppl"]);
  EXPECT_EQ(saved["nll_sum"], direct["nll_sum"]);
  EXPECT_EQ(saved["quant"], q["quant"]);
  EXPECT_EQ(direct["distillation"], q["distillation"]);  // the same command twice: the same losses
  nlohmann::json one_thread = ParseJson(RunGpt2q("perplexity " + kLkd + " --max-tokens 600 --threads 1 --json"));
  EXPECT_EQ(one_thread["nll_sum"], direct["nll_sum"]);
  EXPECT_EQ(one_thread["distillation"], q["distillation"]);
  fs::remove_all(dir);
}

TEST(LkdCliTest, GenerateAndBenchRunIt) {
  nlohmann::json g = ParseJson(RunGpt2q("generate --prompt ROMEO: --greedy --max-new-tokens 8 " + kLkd + " --json"));
  EXPECT_EQ(g["distillation"].size(), 4u);
  nlohmann::json b = ParseJson(RunGpt2q("bench --what prefill --tokens 32 --repeat 1 --scope no-lm-head "
                                        "--quant zeroquant:bits=4,lkd=1,lkd_steps=2 --calib-samples 4 "
                                        "--calib-len 64 --json"));
  // The lkd row of the bench table carries its per-block losses.
  EXPECT_NE(b.dump().find("\"distillation\":[{"), std::string::npos) << b.dump();
  EXPECT_NE(b.dump().find("\"samples\":4"), std::string::npos) << b.dump();  // bench's --calib-samples
}

TEST(LkdCliTest, PlainZeroquantNeedsNoCalibrationAndBadOptionsFail) {
  nlohmann::json plain = ParseJson(RunGpt2q("perplexity --quant zeroquant:bits=4 --max-tokens 300 --json"));
  EXPECT_TRUE(plain["calibration"].is_null());
  EXPECT_TRUE(plain["distillation"].is_null());
  EXPECT_EQ(plain["quant"], "zeroquant:group=64,bits=4");
  RunResult r = RunGpt2q("perplexity --quant zeroquant:lkd_steps=3 --max-tokens 300");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("only with lkd=1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gpt2q
