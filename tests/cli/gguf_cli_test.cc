// GGUF end to end: llama.cpp's files of the fixture generate llama.cpp's
// greedy tokens and evaluate like `--quant` on the safetensors model; gpt2q's
// --export gguf writes llama-quantize's tensors; info lists a GGUF's tensors;
// a broken GGUF is one clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_runner.h"
#include "io/gguf.h"

namespace gpt2q {
namespace {

const std::string kGgufDir = GPT2Q_SHARED_DIR "/fixtures/gguf";

std::string FixtureFile(const std::string& type) {
  return kGgufDir + "/gpt2-tiny-shakespeare-" + type + ".gguf";
}

class GgufCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gpt2q_gguf_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// llama.cpp's greedy ids and top-two margins from greedy-TYPE.txt.
struct Greedy {
  std::vector<int64_t> ids;
  std::vector<double> margins;
};

Greedy ReadGreedy(const std::string& type) {
  std::ifstream in(kGgufDir + "/greedy-" + type + ".txt");
  Greedy g;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "IDS") {
      for (int64_t id; fields >> id;) g.ids.push_back(id);
    } else if (key == "MARGINS") {
      for (double m; fields >> m;) g.margins.push_back(m);
    }
  }
  return g;
}

TEST_F(GgufCliTest, LlamaCppFilesGenerateLlamaCppsGreedyTokens) {
  for (const std::string type : {"q8_0", "q4_0", "q4_k_s"}) {
    SCOPED_TRACE(type);
    const Greedy expected = ReadGreedy(type);
    ASSERT_EQ(expected.ids.size(), 40u);
    ASSERT_EQ(expected.margins.size(), 40u);
    nlohmann::json j = ParseJson(RunGpt2q("generate '" + FixtureFile(type) +
                                          "' --prompt 'ROMEO:' --greedy --ignore-eos --max-new-tokens 40 --json"));
    std::vector<int64_t> ids = j["ids"].get<std::vector<int64_t>>();
    ASSERT_EQ(ids.size(), 43u);
    EXPECT_EQ(std::vector<int64_t>(ids.begin(), ids.begin() + 3), (std::vector<int64_t>{33676, 4720, 25}));
    // llama.cpp keeps an F16 KV cache, gpt2q an fp32 one: they must agree up to
    // and including the first step whose top-two margin is below 0.01, where
    // the other token may win (see the fixture's README).
    size_t agree = 40;
    for (size_t i = 0; i < 40; ++i) {
      if (expected.margins[i] < 0.01) {
        agree = i + 1;
        break;
      }
    }
    if (type == "q8_0") {
      EXPECT_EQ(agree, 40u);
    }
    for (size_t i = 0; i + 1 < agree; ++i) ASSERT_EQ(ids[3 + i], expected.ids[i]) << "step " << i;
  }
}

TEST_F(GgufCliTest, LlamaCppFilesEvaluateLikeQuantOnTheSafetensorsModel) {
  for (const std::string type : {"q8_0", "q4_0"}) {
    SCOPED_TRACE(type);
    nlohmann::json gguf = ParseJson(RunGpt2q("perplexity '" + FixtureFile(type) + "' --max-tokens 512 --json"));
    nlohmann::json direct = ParseJson(RunGpt2q("perplexity --quant " + type + " --max-tokens 512 --json"));
    ASSERT_TRUE(gguf.contains("ppl"));
    EXPECT_EQ(gguf["ppl"], direct["ppl"]);
    EXPECT_EQ(gguf["loss"], direct["loss"]);
    EXPECT_EQ(gguf["weights_bytes"], direct["weights_bytes"]);
  }
}

// Exports of the shipped model against llama-quantize's files of the same
// model: same tensor names, types, shapes, bytes and metadata. With q4_k,
// llama-quantize's Q4_K_S recipe gives output.weight its own type (Q6_K →
// Q8_0 on 128-long rows); gpt2q's single --quant keeps the head tied (Q5_0).
TEST_F(GgufCliTest, ExportWritesLlamaQuantizesTensors) {
  struct Case {
    std::string spec, fixture;
  };
  for (const Case& c : {Case{"q8_0", "q8_0"}, Case{"q4_0", "q4_0"}, Case{"q4_k", "q4_k_s"}}) {
    SCOPED_TRACE(c.spec);
    const std::string out = (dir_ / (c.spec + ".gguf")).string();
    RunResult r = RunGpt2q("quantize --quant " + c.spec + " --export gguf --out '" + out + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (c.spec == "q4_k") {
      EXPECT_NE(r.out.find("h.0.attn.c_attn.weight stored as q5_0"), std::string::npos) << r.out;
      EXPECT_EQ(r.out.find("left in fp32"), std::string::npos) << r.out;
    }
    auto ours = GgufFile::Open(out);
    ASSERT_TRUE(ours.ok()) << ours.message();
    auto theirs = GgufFile::Open(FixtureFile(c.fixture));
    ASSERT_TRUE(theirs.ok());
    ASSERT_EQ((*ours)->tensors().size(), (*theirs)->tensors().size());
    for (size_t i = 0; i < (*ours)->tensors().size(); ++i) {
      const GgufTensor& a = (*ours)->tensors()[i];
      const GgufTensor& b = (*theirs)->tensors()[i];
      ASSERT_EQ(a.name, b.name);
      EXPECT_EQ(a.ne, b.ne) << a.name;
      if (c.spec == "q4_k" && a.name == "output.weight") {
        EXPECT_EQ(a.type, kGgmlQ5_0);
        continue;
      }
      EXPECT_EQ(a.type, b.type) << a.name;
      ASSERT_EQ(a.nbytes, b.nbytes) << a.name;
      EXPECT_EQ(std::memcmp(a.data, b.data, static_cast<size_t>(a.nbytes)), 0) << a.name;
    }
    for (const auto& [key, value] : (*theirs)->metadata()) {
      const GgufValue* mine = (*ours)->Find(key);
      ASSERT_NE(mine, nullptr) << key;
      EXPECT_EQ(mine->type, value.type) << key;
      EXPECT_EQ(mine->string, value.string) << key;
      EXPECT_EQ(mine->strings, value.strings) << key;
      EXPECT_EQ(mine->count, value.count) << key;
    }
  }
}

TEST_F(GgufCliTest, ExportRoundTripEvaluatesBitIdentically) {
  const std::string out = (dir_ / "q4_0.gguf").string();
  ASSERT_EQ(RunGpt2q("quantize --quant q4_0 --skip 'h.1.*' --export gguf --out '" + out + "'").exit_code, 0);
  nlohmann::json saved = ParseJson(RunGpt2q("perplexity '" + out + "' --max-tokens 600 --json"));
  nlohmann::json direct = ParseJson(RunGpt2q("perplexity --quant q4_0 --skip 'h.1.*' --max-tokens 600 --json"));
  EXPECT_EQ(saved["ppl"], direct["ppl"]);
  // --quant on a quantized GGUF is refused; an existing file needs --force.
  RunResult again = RunGpt2q("perplexity '" + out + "' --quant q8_0");
  EXPECT_EQ(again.exit_code, 1);
  RunResult exists = RunGpt2q("quantize --quant q4_0 --export gguf --out '" + out + "'");
  EXPECT_EQ(exists.exit_code, 1) << exists.err;
  EXPECT_EQ(RunGpt2q("quantize --quant q4_0 --export gguf --force --out '" + out + "'").exit_code, 0);
}

// bf16 goes out as ggml's BF16 (general.file_type 32, llama.cpp's MOSTLY_BF16)
// and comes back as the same bf16 matrices, viewed in the mapped file.
TEST_F(GgufCliTest, Bf16ExportRoundTripEvaluatesBitIdentically) {
  const std::string out = (dir_ / "bf16.gguf").string();
  ASSERT_EQ(RunGpt2q("quantize --quant bf16 --export gguf --out '" + out + "'").exit_code, 0);
  nlohmann::json saved = ParseJson(RunGpt2q("perplexity '" + out + "' --max-tokens 600 --json"));
  nlohmann::json direct = ParseJson(RunGpt2q("perplexity --quant bf16 --max-tokens 600 --json"));
  EXPECT_EQ(saved["ppl"], direct["ppl"]);
  RunResult info = RunGpt2q("info '" + out + "'");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("bf16"), std::string::npos) << info.out;
  auto file = GgufFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.message();
  EXPECT_EQ((*file)->GetInt("general.file_type", 0, 100).value(), 32);
  EXPECT_EQ((*file)->FindTensor("blk.0.attn_qkv.weight")->type, kGgmlBF16);
}

TEST_F(GgufCliTest, ExportRefusesFormatsGgufCannotHold) {
  const std::string out = (dir_ / "nf4.gguf").string();
  RunResult r = RunGpt2q("quantize --quant nf4 --export gguf --out '" + out + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("stored as nf4, which GGUF has no type for"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  RunResult kind = RunGpt2q("quantize --quant q8_0 --export onnx --out '" + out + "'");
  EXPECT_EQ(kind.exit_code, 2) << kind.err;
}

TEST_F(GgufCliTest, InfoListsTheFilesTensors) {
  nlohmann::json j = ParseJson(RunGpt2q("info '" + FixtureFile("q4_k_s") + "' --json"));
  EXPECT_EQ(j["file_kind"], "gguf");
  EXPECT_EQ(j["head_tied"], false);
  ASSERT_EQ(j["tensors"].size(), 53u);
  bool found = false;
  for (const auto& t : j["tensors"]) {
    if (t["name"] == "blk.0.ffn_down.weight") {
      found = true;
      EXPECT_EQ(t["stored_type"], "q4_K");
      EXPECT_EQ(t["format"], "q4_k");
      EXPECT_EQ(t["shape"], (std::vector<int64_t>{128, 512}));
      EXPECT_EQ(t["bytes"], 128 * 2 * 144);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(j["matrices"]["q4_k"]["tensors"], 4);
  EXPECT_EQ(j["recorded_quant"]["quant"], "q4_k+q5_0+q8_0");
  RunResult text = RunGpt2q("info '" + FixtureFile("q8_0") + "'");
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("blk.3.attn_qkv.weight"), std::string::npos) << text.out;
  // A safetensors model lists its parameters.
  nlohmann::json plain = ParseJson(RunGpt2q("info --json"));
  EXPECT_EQ(plain["file_kind"], "safetensors");
  EXPECT_EQ(plain["tensors"].size(), 52u);
}

TEST_F(GgufCliTest, QuantizingAGgufAgainIsRefusedAndNamesIt) {
  RunResult r = RunGpt2q("perplexity '" + FixtureFile("q8_0") + "' --quant q4_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is a GGUF file (q8_0, scope gguf, packed mode); --quant q4_0 needs an fp32"),
            std::string::npos)
      << r.err;
}

TEST_F(GgufCliTest, BrokenFilesAreOneClearError) {
  std::ifstream in(FixtureFile("q4_0"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path cut = dir_ / "cut.gguf";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), 1'000'000);
  RunResult r = RunGpt2q("perplexity '" + cut.string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("gpt2q: error: " + cut.string() + ": ", 0), 0u) << r.err;
  EXPECT_TRUE(r.err.find("truncated GGUF file") != std::string::npos ||
              r.err.find("bytes left in the file") != std::string::npos)
      << r.err;
  const fs::path data = dir_ / "data.gguf";
  std::ofstream(data, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 100));
  RunResult d = RunGpt2q("info '" + data.string() + "'");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("out of range"), std::string::npos) << d.err;
  const fs::path text = dir_ / "notes.txt";
  std::ofstream(text) << "hello";
  RunResult t = RunGpt2q("info '" + text.string() + "'");
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_NE(t.err.find("not a GGUF file"), std::string::npos) << t.err;
}

}  // namespace
}  // namespace gpt2q
