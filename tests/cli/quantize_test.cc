// gpt2q quantize end to end: the written folder evaluates exactly like the
// in-memory quantized model, corrupt files fail cleanly, --stats rows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

#include "cli_runner.h"
#include "io/safetensors.h"

namespace gpt2q {
namespace {

class QuantizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gpt2q_quantize_test_" + std::to_string(getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Quantizes the shipped model with `spec` into dir_/`name`; returns the folder.
  std::string Quantize(const std::string& spec, const std::string& name, const std::string& extra = "") {
    const std::string out = (dir_ / name).string();
    RunResult r = RunGpt2q("quantize --quant " + spec + " --out '" + out + "' " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }

  // Rewrites folder/model.safetensors after `edit` changed its tensors or metadata.
  static void Rewrite(const std::string& folder,
                      const std::function<void(std::vector<TensorToWrite>&,
                                               std::map<std::string, std::string>&)>& edit) {
    const std::string path = folder + "/model.safetensors";
    auto file = SafetensorsFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.message();
    std::vector<TensorToWrite> tensors;
    for (const TensorView& t : (*file)->tensors()) {
      tensors.push_back({t.name, t.dtype, t.shape, t.data, t.nbytes});
    }
    std::map<std::string, std::string> metadata = (*file)->metadata();
    edit(tensors, metadata);
    ASSERT_TRUE(WriteSafetensors(path, tensors, metadata).ok());
  }

  fs::path dir_;
};

TEST_F(QuantizeCliTest, SavedNf4EvaluatesLikeInMemoryNf4) {
  const std::string out = Quantize("nf4", "nf4");
  for (const char* f : {"model.safetensors", "config.json", "vocab.json", "merges.txt"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  }
  nlohmann::json saved = ParseJson(RunGpt2q("perplexity '" + out + "' --max-tokens 600 --json"));
  nlohmann::json direct = ParseJson(RunGpt2q("perplexity --quant nf4 --max-tokens 600 --json"));
  ASSERT_TRUE(saved.contains("ppl"));
  EXPECT_EQ(saved["ppl"], direct["ppl"]);
  EXPECT_EQ(saved["nll_sum"], direct["nll_sum"]);
  EXPECT_EQ(saved["weights_bytes"], direct["weights_bytes"]);
  // The metadata names each quantized tensor's format.
  auto file = SafetensorsFile::Open(out + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.message();
  const auto& meta = (*file)->metadata();
  EXPECT_EQ(meta.at("gpt2q.format.h.0.attn.c_attn.weight"), "nf4");
  EXPECT_EQ(meta.at("gpt2q.params.h.0.attn.c_attn.weight"), "block=64,double=0");
  EXPECT_EQ(meta.at("gpt2q.shape.h.0.attn.c_attn.weight"), "384,128");
  EXPECT_EQ(meta.at("gpt2q.quant"), "nf4:block=64,double=0");
  EXPECT_NE((*file)->Find("h.0.attn.c_attn.weight.codes"), nullptr);
  EXPECT_NE((*file)->Find("wte.weight.absmax"), nullptr);
  EXPECT_EQ((*file)->Find("h.0.attn.c_attn.weight"), nullptr);
  EXPECT_NE((*file)->Find("h.0.ln_1.weight"), nullptr);
}

TEST_F(QuantizeCliTest, StatsJsonHasOneFiniteRowPerQuantizedTensor) {
  const std::string out = (dir_ / "stats").string();
  nlohmann::json j = ParseJson(RunGpt2q("quantize --quant q8_0 --out '" + out + "' --stats --json"));
  ASSERT_TRUE(j.contains("stats"));
  // linear scope of a 4-layer model: 4 linears per block + the tied embedding/head.
  ASSERT_EQ(j["stats"].size(), 17u);
  for (const auto& row : j["stats"]) {
    ASSERT_TRUE(row["sqnr_db"].is_number()) << row.dump();
    EXPECT_TRUE(std::isfinite(row["sqnr_db"].get<double>()));
    EXPECT_GT(row["sqnr_db"].get<double>(), 20.0);
    EXPECT_GT(row["mse"].get<double>(), 0.0);
    EXPECT_EQ(row["format"], "q8_0");
  }
  EXPECT_GT(j["compression"].get<double>(), 0.5);
  EXPECT_TRUE(j.contains("quantize_s"));
  RunResult text = RunGpt2q("quantize --quant q8_0 --out '" + out + "' --stats --force");
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("SQNR dB"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("h.3.mlp.c_proj.weight"), std::string::npos) << text.out;
}

TEST_F(QuantizeCliTest, SimulateWritesPlainFp32AndSaysSo) {
  const std::string out = (dir_ / "sim").string();
  RunResult r = RunGpt2q("quantize --quant absmax --mode simulate --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("plain fp32"), std::string::npos) << r.out;
  auto file = SafetensorsFile::Open(out + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.message();
  EXPECT_EQ((*file)->metadata().count("gpt2q.version"), 0u);
  EXPECT_EQ(RunGpt2q("perplexity '" + out + "' --max-tokens 100").exit_code, 0);
}

TEST_F(QuantizeCliTest, CorruptFilesFailWithAClearMessage) {
  const std::string good = Quantize("nf4", "good");
  auto copy = [&](const std::string& name) {
    const fs::path to = dir_ / name;
    fs::copy(good, to, fs::copy_options::recursive);
    return to.string();
  };
  // A truncated file.
  const std::string truncated = copy("truncated");
  fs::resize_file(truncated + "/model.safetensors", fs::file_size(truncated + "/model.safetensors") - 100);
  RunResult r = RunGpt2q("perplexity '" + truncated + "' --max-tokens 50");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;

  // A part of the wrong size (one code byte short).
  const std::string short_part = copy("short_part");
  Rewrite(short_part, [](std::vector<TensorToWrite>& tensors, std::map<std::string, std::string>&) {
    for (TensorToWrite& t : tensors) {
      if (t.name == "h.1.mlp.c_fc.weight.codes") {
        t.shape[0] -= 1;
        t.nbytes -= 1;
      }
    }
  });
  r = RunGpt2q("perplexity '" + short_part + "' --max-tokens 50");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("h.1.mlp.c_fc.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("codes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("shape: expected [32768], got [32767]"), std::string::npos) << r.err;

  // An unknown format name in the metadata.
  const std::string unknown = copy("unknown");
  Rewrite(unknown, [](std::vector<TensorToWrite>&, std::map<std::string, std::string>& meta) {
    meta["gpt2q.format.h.0.attn.c_proj.weight"] = "nf5";
  });
  r = RunGpt2q("perplexity '" + unknown + "' --max-tokens 50");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("h.0.attn.c_proj.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown format 'nf5'"), std::string::npos) << r.err;

  // Params a format rejects.
  const std::string bad_params = copy("bad_params");
  Rewrite(bad_params, [](std::vector<TensorToWrite>&, std::map<std::string, std::string>& meta) {
    meta["gpt2q.params.wte.weight"] = "block=48,double=0";
  });
  r = RunGpt2q("info '" + bad_params + "'");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("wte.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("block"), std::string::npos) << r.err;
}

TEST_F(QuantizeCliTest, QuantIsRequired) {
  RunResult r = RunGpt2q("quantize --out '" + (dir_ / "x").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--quant"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gpt2q
