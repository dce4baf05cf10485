// gpt2q quantize --export hf-bnb end to end, and the bitsandbytes fixtures
// through info and perplexity.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "cli_runner.h"

namespace gpt2q {
namespace {

const std::string kNf4Dq = std::string(GPT2Q_SHARED_DIR) + "/fixtures/hf-bnb/gpt2-tiny-shakespeare-bnb-nf4-dq";

class HfBnbCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gpt2q_hfbnb_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(HfBnbCliTest, ExportedFolderLoadsWithItsFormats) {
  const std::string out = (dir_ / "nf4").string();
  RunResult r = RunGpt2q("quantize --quant nf4:double=1 --export hf-bnb --out '" + out + "' --json");
  nlohmann::json written = ParseJson(r);
  EXPECT_EQ(written["layout"], "hf-bnb");
  EXPECT_EQ(written["scope"], "no-lm-head");
  for (const char* f : {"model.safetensors", "config.json", "vocab.json", "merges.txt"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  }
  nlohmann::json info = ParseJson(RunGpt2q("info '" + out + "' --json"));
  EXPECT_EQ(info["recorded_quant"]["quant"], "nf4:block=64,double=1");
  EXPECT_EQ(info["recorded_quant"]["scope"], "hf-bnb");
  // Every tensor listed: wte stays a plain matrix, the 16 block linears are nf4.
  std::map<std::string, nlohmann::json> by_name;
  for (const nlohmann::json& t : info["tensors"]) by_name[t["name"].get<std::string>()] = t;
  ASSERT_TRUE(by_name.count("wte.weight") && by_name.count("h.0.attn.c_attn.weight")) << info.dump();
  EXPECT_EQ(by_name["wte.weight"]["format"], "fp32");
  int nf4 = 0;
  for (const auto& [name, t] : by_name) nf4 += t["format"] == "nf4";
  EXPECT_EQ(nf4, 16);
  EXPECT_GT(by_name["h.0.attn.c_attn.weight"]["bytes"].get<int64_t>(), 384 * 128 / 2);
  // --quant on it is refused: it is quantized already.
  RunResult again = RunGpt2q("perplexity '" + out + "' --quant nf4 --max-tokens 300");
  EXPECT_EQ(again.exit_code, 1) << again.err;
}

TEST_F(HfBnbCliTest, ExportRefusesOtherMethodsAndScopes) {
  const std::string out = (dir_ / "x").string();
  RunResult r = RunGpt2q("quantize --quant q4_0 --export hf-bnb --out '" + out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--export hf-bnb: expected --quant llm-int8, nf4 or fp4"), std::string::npos) << r.err;
  r = RunGpt2q("quantize --quant nf4 --scope qkv --export hf-bnb --out '" + out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("expected --scope linear or no-lm-head"), std::string::npos) << r.err;
  r = RunGpt2q("quantize --quant nf4 --export gguf2 --out '" + out + "'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(HfBnbCliTest, InfoAndPerplexityOnTheFixture) {
  RunResult r = RunGpt2q("info '" + kNf4Dq + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("nf4:block=64,double=1 (scope hf-bnb"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("h.3.mlp.c_proj.weight"), std::string::npos) << r.out;
  nlohmann::json ppl = ParseJson(RunGpt2q("perplexity '" + kNf4Dq + "' --max-tokens 600 --json"));
  EXPECT_GT(ppl["ppl"].get<double>(), 1.0);
}

}  // namespace
}  // namespace gpt2q
