// Quantized checkpoints: every format's Store/load round trip (bitwise equal
// products and rows, size validation), and every method on the shipped model:
// quantize → save → load gives bitwise equal logits and equal StoredBytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "formats/format.h"
#include "kernels/blas.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"
#include "model/quantized_checkpoint.h"
#include "calib/windows.h"
#include "quant/quantize_model.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;
const std::string kModelDir = std::string(GPT2Q_DATA_DIR) + "/gpt2-tiny-shakespeare";

// Returns views of `stored`'s parts, as the checkpoint loader would build them.
StoredParts ViewsOf(const StoredMatrix& stored) {
  StoredParts parts;
  parts.where = "test: tensor 'w'";
  for (const StoredPart& p : stored.parts) {
    parts.parts[p.suffix] = StoredPartView{p.dtype, p.shape, p.bytes.data(),
                                           static_cast<int64_t>(p.bytes.size())};
  }
  return parts;
}

// Options that exercise each format's non-default storage.
std::vector<FormatParams> ParamsToTry(const FormatTraits& f) {
  std::vector<FormatParams> out = {{}};
  if (f.name == "nf4" || f.name == "fp4") out.push_back({{"double", 1}, {"block", 32}});
  if (f.name == "int8-group") out.push_back({{"bits", 4}, {"group", 32}, {"w8a8", 0}});
  if (f.name == "int8-tensor" || f.name == "int8-row-asym") out.push_back({{"w8a8", 1}});
  if (f.name == "llm-int8") out.push_back({{"threshold", 0.5}});
  if (f.name == "int-group") {
    out.push_back({{"bits", 3}, {"group", 100}, {"sym", 1}});
    out.push_back({{"bits", 2}, {"group", -1}, {"sym", 0}});
    out.push_back({{"bits", 8}, {"group", 33}, {"sym", 0}});
  }
  return out;
}

TEST(FormatStoreTest, EveryFormatLoadsBackBitIdentical) {
  ThreadPool pool(2);
  const int64_t rows = 40, cols = 256, n = 5;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(rows * cols), x(n * cols);
  for (float& v : w) v = normal(rng);
  for (float& v : x) v = 20 * normal(rng);  // some |x| above llm-int8's thresholds
  for (const FormatTraits& f : FormatTable()) {
    for (const FormatParams& params : ParamsToTry(f)) {
      SCOPED_TRACE(std::string(f.name) + " " + ParamsToText(params));
      auto m = f.quantize(w.data(), rows, cols, params, pool);
      ASSERT_TRUE(m.ok()) << m.message();
      const StoredMatrix stored = (*m)->Store();
      ASSERT_NE(f.load, nullptr);
      auto back = f.load(ViewsOf(stored), rows, cols, stored.params);
      ASSERT_TRUE(back.ok()) << back.message();
      EXPECT_EQ((*back)->format(), (*m)->format());
      EXPECT_EQ((*back)->StoredBytes(), (*m)->StoredBytes());
      std::vector<float> ya(n * rows), yb(n * rows), ra(cols), rb(cols);
      (*m)->Multiply(x.data(), n, ya.data(), pool);
      (*back)->Multiply(x.data(), n, yb.data(), pool);
      EXPECT_EQ(std::memcmp(ya.data(), yb.data(), ya.size() * 4), 0);
      for (int64_t r = 0; r < rows; ++r) {
        (*m)->DequantizeRow(r, ra.data());
        (*back)->DequantizeRow(r, rb.data());
        ASSERT_EQ(std::memcmp(ra.data(), rb.data(), cols * 4), 0) << "row " << r;
      }
      // The parts' text of params round-trips exactly.
      auto reparsed = ParamsFromText("test", ParamsToText(stored.params));
      ASSERT_TRUE(reparsed.ok()) << reparsed.message();
      EXPECT_EQ(*reparsed, stored.params);
    }
  }
}

TEST(FormatStoreTest, EveryFormatRejectsWrongPartsWithAClearMessage) {
  ThreadPool pool(1);
  const int64_t rows = 16, cols = 256;
  std::vector<float> w(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i) w[i] = 0.01f * static_cast<float>(i % 97) - 0.4f;
  for (const FormatTraits& f : FormatTable()) {
    SCOPED_TRACE(std::string(f.name));
    auto m = f.quantize(w.data(), rows, cols, {}, pool);
    ASSERT_TRUE(m.ok()) << m.message();
    const StoredMatrix stored = (*m)->Store();
    for (size_t i = 0; i < stored.parts.size(); ++i) {
      // One element short: the shape and the byte count no longer match.
      StoredMatrix bad = stored;
      StoredPart& p = bad.parts[i];
      p.shape.back() -= 1;
      p.bytes.resize(p.bytes.size() - p.bytes.size() / (p.shape.back() + 1));
      auto r = f.load(ViewsOf(bad), rows, cols, bad.params);
      ASSERT_FALSE(r.ok()) << "part " << p.suffix;
      EXPECT_NE(r.message().find("test: tensor 'w'"), std::string::npos) << r.message();
      EXPECT_NE(r.message().find(p.suffix), std::string::npos) << r.message();
      EXPECT_NE(r.message().find("expected"), std::string::npos) << r.message();
      // Shape kept, bytes cut (a view that lies about its size).
      StoredParts views = ViewsOf(stored);
      views.parts[stored.parts[i].suffix].nbytes -= 1;
      auto cut = f.load(views, rows, cols, stored.params);
      ASSERT_FALSE(cut.ok());
      EXPECT_NE(cut.message().find("bytes"), std::string::npos) << cut.message();
      // A part missing.
      StoredParts missing = ViewsOf(stored);
      missing.parts.erase(stored.parts[i].suffix);
      EXPECT_FALSE(f.load(missing, rows, cols, stored.params).ok());
    }
    StoredParts extra = ViewsOf(stored);
    extra.parts["bogus"] = extra.parts.begin()->second;
    auto r = f.load(extra, rows, cols, stored.params);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("bogus"), std::string::npos) << r.message();
  }
}

// Returns the logits [32, n_vocab] of a fixed 32-token sequence.
std::vector<float> Logits(const GPT2& model, ThreadPool& pool) {
  std::vector<int32_t> tokens(32);
  for (int i = 0; i < 32; ++i) tokens[i] = (i * 37 + 11) % static_cast<int32_t>(model.config().n_vocab);
  KVCache cache(model.config(), 1, 32);
  std::vector<float> logits(32 * model.config().n_vocab);
  model.Forward(tokens.data(), 1, 32, cache, LogitsMode::kAll, logits.data(), pool);
  return logits;
}

struct MatrixFacts {
  std::string name, format;
  int64_t bytes;
  bool operator==(const MatrixFacts&) const = default;
};

std::vector<MatrixFacts> Facts(ModelWeights& w) {
  std::vector<MatrixFacts> facts;
  ForEachMatrix(w, [&](const std::string& name, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    facts.push_back({name, m->format(), m->StoredBytes()});
  });
  return facts;
}

void ExpectRoundTrip(const std::string& spec_text, const std::string& scope_name) {
  SCOPED_TRACE(spec_text + " scope " + scope_name);
  ThreadPool pool(2);
  auto weights = LoadCheckpoint(kModelDir);
  ASSERT_TRUE(weights.ok()) << weights.message();
  auto spec = ParseQuantSpec(spec_text);
  ASSERT_TRUE(spec.ok()) << spec.message();
  auto scope = MakeScope(scope_name, {}, {}, weights->config.n_layer);
  ASSERT_TRUE(scope.ok()) << scope.message();
  // Calibrated methods get a few windows of fixed pseudo-random tokens: enough
  // to exercise what they store (folded scales, GELU scales, group codes).
  std::vector<int32_t> ids(512);
  std::mt19937 rng(7);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % weights->config.n_vocab);
  auto windows = MakeCalibrationWindows(ids, 4, 64, weights->config.n_ctx, "random tokens");
  ASSERT_TRUE(windows.ok()) << windows.message();
  auto report = QuantizeModel(*weights, *spec, *scope, QuantMode::kPacked, pool, &*windows);
  ASSERT_TRUE(report.ok()) << report.message();
  const fs::path dir = fs::temp_directory_path() / ("gpt2q_ckpt_" + std::to_string(getpid()));
  ASSERT_TRUE(SaveQuantizedCheckpoint(*weights, dir.string(), {spec->ToString(), scope->Label()}).ok());
  auto loaded = LoadCheckpoint(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(loaded->head_tied(), weights->head_tied());
  EXPECT_EQ(Facts(*loaded), Facts(*weights));
  GPT2 original(std::move(weights).value()), reloaded(std::move(loaded).value());
  const std::vector<float> a = Logits(original, pool), b = Logits(reloaded, pool);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  fs::remove_all(dir);
}

TEST(CheckpointRoundTripTest, EveryMethodLoadsBackBitIdentical) {
  UseSingleThreadedBlas();
  for (const MethodInfo& m : MethodTable()) ExpectRoundTrip(std::string(m.name), "linear");
}

TEST(CheckpointRoundTripTest, NonDefaultOptionsAndScopes) {
  UseSingleThreadedBlas();
  ExpectRoundTrip("nf4:double=1", "linear");
  ExpectRoundTrip("fp4:double=1,block=128", "linear");
  ExpectRoundTrip("zeroquant:bits=4,group=32", "linear");
  ExpectRoundTrip("absmax:w8a8=1", "all-params");
  ExpectRoundTrip("q8_0", "lm-head");    // untied: fp32 embedding beside the quantized head
  ExpectRoundTrip("llm-int8", "no-lm-head");
  ExpectRoundTrip("rtn:bits=3,group=-1,sym=1", "linear");
  ExpectRoundTrip("rtn:bits=2,group=48", "no-lm-head");  // rows of 128 and 512: short last groups
}

TEST(CheckpointRoundTripTest, PlainCheckpointHasNoGpt2qMetadata) {
  ThreadPool pool(1);
  auto weights = LoadCheckpoint(kModelDir);
  ASSERT_TRUE(weights.ok()) << weights.message();
  const fs::path dir = fs::temp_directory_path() / ("gpt2q_ckpt_plain_" + std::to_string(getpid()));
  // fp32 in the usual layouts is written as plain Hugging Face tensors.
  ASSERT_TRUE(SaveQuantizedCheckpoint(*weights, dir.string(), {"fp32", "-"}).ok());
  auto file = SafetensorsFile::Open((dir / "model.safetensors").string());
  ASSERT_TRUE(file.ok()) << file.message();
  ASSERT_NE((*file)->Find("h.0.attn.c_attn.weight"), nullptr);
  EXPECT_EQ((*file)->Find("h.0.attn.c_attn.weight")->shape, (std::vector<int64_t>{128, 384}));
  auto q = ReadQuantizedTensors(**file);
  ASSERT_TRUE(q.ok()) << q.message();
  EXPECT_TRUE(q->matrices.empty());
  EXPECT_EQ((*file)->metadata().at("gpt2q.tied"), "1");
  fs::remove_all(dir);
}

TEST(CheckpointRoundTripTest, RecordedQuantizationReadsBackOrNamesTheMissingKey) {
  const fs::path dir = fs::temp_directory_path() / ("gpt2q_recorded_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "model.safetensors").string();
  const float value = 1.0f;
  auto read = [&](const std::map<std::string, std::string>& metadata) {
    EXPECT_TRUE(WriteSafetensors(path, {{"x", Dtype::kF32, {1}, &value, 4}}, metadata).ok());
    auto file = SafetensorsFile::Open(path);
    EXPECT_TRUE(file.ok()) << file.message();
    return ReadQuantizedCheckpointInfo(**file);
  };
  auto plain = read({{"format", "pt"}});
  ASSERT_TRUE(plain.ok()) << plain.message();
  EXPECT_FALSE(plain.value().has_value());
  auto recorded = read({{"gpt2q.version", "1"}, {"gpt2q.quant", "nf4:block=64,double=0"},
                        {"gpt2q.scope", "linear"}, {"gpt2q.mode", "packed"}});
  ASSERT_TRUE(recorded.ok()) << recorded.message();
  ASSERT_TRUE(recorded.value().has_value());
  EXPECT_EQ(recorded.value()->quant, "nf4:block=64,double=0");
  EXPECT_EQ(recorded.value()->scope, "linear");
  EXPECT_EQ(recorded.value()->mode, "packed");
  auto no_scope = read({{"gpt2q.version", "1"}, {"gpt2q.quant", "q4_0"}, {"gpt2q.mode", "packed"}});
  ASSERT_FALSE(no_scope.ok());
  EXPECT_NE(no_scope.message().find("metadata gpt2q.scope: missing"), std::string::npos) << no_scope.message();
  EXPECT_NE(no_scope.message().find(path), std::string::npos) << no_scope.message();
  auto version = read({{"gpt2q.version", "2"}, {"gpt2q.quant", "q4_0"}, {"gpt2q.scope", "linear"},
                       {"gpt2q.mode", "packed"}});
  ASSERT_FALSE(version.ok());
  EXPECT_NE(version.message().find("gpt2q.version: expected '1', got '2'"), std::string::npos) << version.message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gpt2q
