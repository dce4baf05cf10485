// GGUF checkpoints: llama.cpp's own files of the fixture load in place and
// match gpt2q's quantizers byte for byte; gpt2q's export writes the same
// tensors and metadata; export → load gives bit-identical logits per format.
#include "model/gguf_checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "../shipped_fixture.h"
#include "formats/format.h"
#include "formats/fp16_matrix.h"
#include "formats/fp32_matrix.h"
#include "formats/ggml_formats.h"
#include "model/gguf_export.h"
#include "model/synthetic.h"
#include "quant/quant_spec.h"
#include "quant/quantize_model.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;

const std::string kFixtureModel = GPT2Q_SHARED_DIR "/fixtures/gpt2-tiny-shakespeare";
const std::string kGgufDir = GPT2Q_SHARED_DIR "/fixtures/gguf";

std::string FixtureFile(const std::string& type) {
  return kGgufDir + "/gpt2-tiny-shakespeare-" + type + ".gguf";
}

fs::path TempPath(const std::string& name) {
  return fs::temp_directory_path() / ("gpt2q_gguf_" + std::to_string(getpid()) + "_" + name);
}

// Quantizes `w` with `spec` on scope linear (packed); fails the test on error.
QuantizeReport Quantize(ModelWeights& w, const std::string& spec, ThreadPool& pool,
                        const std::vector<std::string>& skip = {}) {
  auto parsed = ParseQuantSpec(spec);
  EXPECT_TRUE(parsed.ok()) << parsed.message();
  auto scope = MakeScope("linear", {}, skip, w.config.n_layer);
  EXPECT_TRUE(scope.ok());
  auto report = QuantizeModel(w, *parsed, *scope, QuantMode::kPacked, pool);
  EXPECT_TRUE(report.ok()) << report.message();
  return report.ok() ? *report : QuantizeReport{};
}

// Returns `m` as a `format` matrix quantized from its values.
std::shared_ptr<WeightMatrix> Requantize(const WeightMatrix& m, const std::string& format, ThreadPool& pool) {
  auto f = FindFormat(format);
  EXPECT_TRUE(f.ok());
  std::vector<float> values = DequantizeAll(m, pool);
  auto q = (*f)->quantize(values.data(), m.rows(), m.cols(), {}, pool);
  EXPECT_TRUE(q.ok()) << q.message();
  return std::shared_ptr<WeightMatrix>(std::move(q).value().release());
}

// Returns "TYPE:bytes" of a metadata value, for comparisons.
std::string ValueText(const GgufValue& v) {
  std::string s = GgufValueTypeName(v.type) + ":";
  if (v.type == GgufValueType::kString) return s + std::string(v.string);
  if (v.type == GgufValueType::kArray) {
    s += GgufValueTypeName(v.array_type) + "[" + std::to_string(v.count) + "]";
    if (v.array_type == GgufValueType::kString) {
      for (std::string_view e : v.strings) s += std::string(e) + '\n';
      return s;
    }
    const size_t size = v.array_type == GgufValueType::kI32 ? 4 : 8;  // what these files hold
    return s + std::string(reinterpret_cast<const char*>(v.data), v.count * size);
  }
  const size_t size = v.type == GgufValueType::kBool ? 1 : v.type == GgufValueType::kU64 ? 8 : 4;
  return s + std::string(reinterpret_cast<const char*>(v.data), size);
}

// Expects the same metadata (keys, order, types, values) and the same tensors
// (names, order, types, shapes, bytes) in both files, except `skip_tensors`.
void ExpectSameGguf(const GgufFile& ours, const GgufFile& theirs, const std::set<std::string>& skip_tensors = {}) {
  ASSERT_EQ(ours.metadata().size(), theirs.metadata().size());
  for (size_t i = 0; i < ours.metadata().size(); ++i) {
    const auto& [key, value] = ours.metadata()[i];
    EXPECT_EQ(key, theirs.metadata()[i].first);
    EXPECT_EQ(ValueText(value), ValueText(theirs.metadata()[i].second)) << key;
  }
  ASSERT_EQ(ours.tensors().size(), theirs.tensors().size());
  for (size_t i = 0; i < ours.tensors().size(); ++i) {
    const GgufTensor& a = ours.tensors()[i];
    const GgufTensor& b = theirs.tensors()[i];
    ASSERT_EQ(a.name, b.name);
    if (skip_tensors.count(a.name) != 0) continue;
    EXPECT_EQ(a.type, b.type) << a.name;
    EXPECT_EQ(a.ne, b.ne) << a.name;
    EXPECT_EQ(a.offset, b.offset) << a.name;
    ASSERT_EQ(a.nbytes, b.nbytes) << a.name;
    EXPECT_EQ(std::memcmp(a.data, b.data, static_cast<size_t>(a.nbytes)), 0) << a.name << ": bytes differ";
  }
}

// Returns the logits of a prefill of `tokens` followed by one decode step.
std::vector<float> Logits(const GPT2& model, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  const int64_t n = static_cast<int64_t>(tokens.size()), V = model.config().n_vocab;
  KVCache cache(model.config(), 1, n + 1);
  std::vector<float> logits((n + 1) * V);
  model.Forward(tokens.data(), 1, n, cache, LogitsMode::kAll, logits.data(), pool);
  const int32_t next = tokens[0];
  model.Forward(&next, 1, 1, cache, LogitsMode::kAll, logits.data() + n * V, pool);
  return logits;
}

// Expects `a` and `b` equal bit for bit (without printing them).
void ExpectBitIdentical(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  size_t differ = 0, first = a.size();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      if (differ++ == 0) first = i;
    }
  }
  EXPECT_EQ(differ, 0u) << "first at " << first << ": " << a[first] << " vs " << b[first];
}

TEST(GgufCheckpoint, LoadsLlamaCppFilesInPlace) {
  struct Case {
    std::string type;
    std::string qkv, ffn_down, embd, head;
  };
  for (const Case& c : {Case{"q8_0", "q8_0", "q8_0", "q8_0", "q8_0"}, Case{"q4_0", "q4_0", "q4_0", "q4_0", "q4_0"},
                        Case{"q4_k_s", "q5_0", "q4_k", "q5_0", "q8_0"}}) {
    SCOPED_TRACE(c.type);
    auto file = GgufFile::Open(FixtureFile(c.type));
    ASSERT_TRUE(file.ok()) << file.message();
    auto ck = LoadGgufCheckpoint(*file);
    ASSERT_TRUE(ck.ok()) << ck.message();
    const GPT2Config& cfg = ck->weights.config;
    EXPECT_EQ(cfg.n_vocab, 50257);
    EXPECT_EQ(cfg.n_ctx, 256);
    EXPECT_EQ(cfg.n_embd, 128);
    EXPECT_EQ(cfg.n_layer, 4);
    EXPECT_EQ(cfg.n_head, 4);
    EXPECT_EQ(cfg.n_inner, 512);
    EXPECT_FLOAT_EQ(cfg.layer_norm_epsilon, 1e-5f);
    EXPECT_EQ(cfg.eos_token_id, 50256);
    EXPECT_EQ(ck->name, "gpt2-tiny-shakespeare");
    EXPECT_EQ(ck->vocab.tokens.size(), 50257u);
    EXPECT_EQ(ck->vocab.merges.size(), 50000u);
    EXPECT_EQ(ck->vocab.token_types[50256], 3);
    const ModelWeights& w = ck->weights;
    EXPECT_EQ(w.blocks[1].attn_c_attn->format(), c.qkv);
    EXPECT_EQ(w.blocks[1].mlp_c_proj->format(), c.ffn_down);
    EXPECT_EQ(w.wte->format(), c.embd);
    EXPECT_EQ(w.lm_head->format(), c.head);
    // llama-quantize quantized output and token_embd alike: one matrix again.
    EXPECT_EQ(w.head_tied(), c.embd == c.head);
    // In place: the blocks are the file's bytes, not a copy.
    auto* qkv = dynamic_cast<const GgmlMatrix*>(w.blocks[2].attn_c_attn.get());
    ASSERT_NE(qkv, nullptr);
    EXPECT_EQ(qkv->row_data(0), (*file)->FindTensor("blk.2.attn_qkv.weight")->data);
    EXPECT_EQ(w.blocks[3].ln_2_bias.data,
              reinterpret_cast<const float*>((*file)->FindTensor("blk.3.ffn_norm.bias")->data));
    EXPECT_EQ(ck->tensors.size(), 53u);
  }
}

// gpt2q's quantizers and GGUF writer against llama.cpp's files: every tensor
// and metadata value equal (whole files, for the --pure ones).
TEST(GgufCheckpoint, ExportMatchesLlamaQuantizeByteForByte) {
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  auto vocab = ReadHfVocab(kFixtureModel);
  ASSERT_TRUE(vocab.ok()) << vocab.message();
  for (const std::string type : {"q8_0", "q4_0", "q4_k_s"}) {
    SCOPED_TRACE(type);
    auto w = LoadCheckpoint(kFixtureModel);
    ASSERT_TRUE(w.ok()) << w.message();
    if (type == "q4_k_s") {
      // llama-quantize's Q4_K_S recipe on this model: ffn_down (512-long
      // rows) Q4_K, the 128-long rows' fallback Q5_0, output Q6_K → Q8_0.
      QuantizeReport report = Quantize(*w, "q4_k", pool);
      EXPECT_EQ(report.skipped.size(), 13u);  // wte + 3 linears × 4 blocks
      auto head = Requantize(*w->wte, "q8_0", pool);
      ForEachMatrix(*w, [&](const std::string& name, ParamKind, std::shared_ptr<WeightMatrix>& m) {
        if (m->format() == "fp32") m = Requantize(*m, "q5_0", pool);
      });
      w->lm_head = head;
    } else {
      Quantize(*w, type, pool);
    }
    const fs::path out = TempPath(type + ".gguf");
    ASSERT_TRUE(SaveGguf(*w, *vocab, "gpt2-tiny-shakespeare", out.string()).ok());
    auto ours = GgufFile::Open(out.string());
    ASSERT_TRUE(ours.ok()) << ours.message();
    auto theirs = GgufFile::Open(FixtureFile(type));
    ASSERT_TRUE(theirs.ok());
    ExpectSameGguf(**ours, **theirs);
    EXPECT_EQ(fs::file_size(out), fs::file_size(FixtureFile(type)));
    fs::remove(out);
  }
}

// The Q4_K_S file computes what the same recipe computes in memory.
TEST(GgufCheckpoint, MixedLlamaCppFileGivesTheRecipesLogits) {
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  auto w = LoadCheckpoint(kFixtureModel);
  ASSERT_TRUE(w.ok());
  Quantize(*w, "q4_k", pool);
  auto head = Requantize(*w->wte, "q8_0", pool);
  ForEachMatrix(*w, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    if (m->format() == "fp32") m = Requantize(*m, "q5_0", pool);
  });
  w->lm_head = head;
  GPT2 recipe(std::move(*w));
  auto ck = LoadGgufCheckpoint(FixtureFile("q4_k_s"));
  ASSERT_TRUE(ck.ok()) << ck.message();
  GPT2 loaded(std::move(ck->weights));
  const std::vector<int32_t> tokens = {33676, 4720, 25, 198, 46, 11, 616, 15876, 11, 314};
  ExpectBitIdentical(Logits(recipe, tokens, pool), Logits(loaded, tokens, pool));
}

GPT2Config TinyConfig() {
  GPT2Config c;
  c.n_vocab = 300;
  c.n_ctx = 32;
  c.n_embd = 256;  // K-quant super-blocks tile every row
  c.n_layer = 2;
  c.n_head = 4;
  c.n_inner = 1024;
  return c;
}

GgufVocab FakeVocab(int64_t n) {
  GgufVocab v;
  for (int64_t i = 0; i < n; ++i) v.tokens.push_back("t" + std::to_string(i));
  v.token_types.assign(static_cast<size_t>(n), 1);
  v.bos_id = v.eos_id = v.unknown_id = static_cast<int32_t>(n - 1);
  return v;
}

// Every format GGUF has: export → load gives the in-memory model's logits, bit
// for bit (prefill and one decode step), and the load copies no matrix.
TEST(GgufCheckpoint, RoundTripIsBitIdenticalForEveryFormat) {
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  const std::vector<int32_t> tokens = {1, 7, 42, 299, 0, 150, 3, 88, 12};
  struct Case {
    std::string spec;
    std::vector<std::string> skip;
  };
  for (const Case& c : {Case{"fp32", {}}, Case{"fp16", {}}, Case{"q8_0", {}}, Case{"q4_0", {}},
                        Case{"q4_1", {}}, Case{"q5_0", {}}, Case{"q5_1", {}}, Case{"q4_k", {}},
                        Case{"q6_k", {}}, Case{"q4_0", {"h.0.mlp.c_fc.weight", "wte.weight"}}}) {
    SCOPED_TRACE(c.spec + (c.skip.empty() ? "" : " with fp32 tensors left"));
    ModelWeights w = MakeSyntheticModel(TinyConfig(), 7, pool);
    Quantize(w, c.spec, pool, c.skip);
    const fs::path out = TempPath("roundtrip.gguf");
    ASSERT_TRUE(SaveGguf(w, FakeVocab(300), "tiny", out.string()).ok());
    GPT2 original(std::move(w));
    auto file = GgufFile::Open(out.string());
    ASSERT_TRUE(file.ok()) << file.message();
    auto ck = LoadGgufCheckpoint(*file);
    ASSERT_TRUE(ck.ok()) << ck.message();
    EXPECT_EQ(ck->weights.head_tied(), c.skip.empty());
    const std::string expected_format = c.spec;
    EXPECT_EQ(ck->weights.blocks[1].mlp_c_fc->format(), expected_format);
    if (const auto* g = dynamic_cast<const GgmlMatrix*>(ck->weights.blocks[1].mlp_c_fc.get())) {
      EXPECT_EQ(g->row_data(0), (*file)->FindTensor("blk.1.ffn_up.weight")->data);
    }
    if (const auto* h = dynamic_cast<const Fp16Matrix*>(ck->weights.blocks[1].mlp_c_fc.get())) {
      EXPECT_EQ(reinterpret_cast<const uint8_t*>(h->data()), (*file)->FindTensor("blk.1.ffn_up.weight")->data);
    }
    GPT2 loaded(std::move(ck->weights));
    std::vector<float> a = Logits(original, tokens, pool), b = Logits(loaded, tokens, pool);
    if (c.skip.empty()) {
      ExpectBitIdentical(a, b);
    } else {
      // A weight left fp32 is Conv1D [in, out] in memory, [out, in] in the
      // file. Prefill (SGEMM, the same panels either way) is bit-identical;
      // a decode step sums the other way round (column slices vs rows), so
      // its logits differ in the last bits.
      const size_t prefill = (tokens.size()) * 300;
      ExpectBitIdentical(std::vector<float>(a.begin(), a.begin() + prefill),
                         std::vector<float>(b.begin(), b.begin() + prefill));
      for (size_t i = prefill; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5 * (1 + std::fabs(a[i]))) << i;
    }
    fs::remove(out);
  }
}

TEST(GgufCheckpoint, ExportRefusesFormatsGgufHasNoTypeFor) {
  ThreadPool pool(1);
  ModelWeights w = MakeSyntheticModel(TinyConfig(), 7, pool);
  Quantize(w, "nf4", pool);
  Status s = SaveGguf(w, FakeVocab(300), "tiny", TempPath("nf4.gguf").string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("is stored as nf4, which GGUF has no type for"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(TempPath("nf4.gguf")));
  Status vocab = SaveGguf(MakeSyntheticModel(TinyConfig(), 7, pool), FakeVocab(299), "tiny",
                          TempPath("v.gguf").string());
  ASSERT_FALSE(vocab.ok());
  EXPECT_NE(vocab.message().find("299 tokens"), std::string::npos) << vocab.message();
}

TEST(GgufCheckpoint, FileTypeFollowsLlamaCpp) {
  ThreadPool pool(1);
  std::map<std::string, int64_t> expected = {{"fp32", 0}, {"fp16", 1}, {"q4_0", 2}, {"q4_1", 3}, {"q8_0", 7},
                                             {"q5_0", 8}, {"q5_1", 9}, {"q4_k", 14}, {"q6_k", 18}};
  for (const auto& [spec, file_type] : expected) {
    ModelWeights w = MakeSyntheticModel(TinyConfig(), 7, pool);
    Quantize(w, spec, pool);
    EXPECT_EQ(GgufFileType(w), file_type) << spec;
  }
}

}  // namespace
}  // namespace gpt2q
