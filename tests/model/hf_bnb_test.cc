// The transformers + bitsandbytes layout: the independent fixtures load into
// llm-int8 / nf4 without re-quantizing, gpt2q's export matches their layout and
// loads back bit-identically (malformed folders: hf_bnb_malformed_test.cc).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/half.h"
#include "formats/bnb4.h"
#include "formats/llm_int8.h"
#include "kernels/blas.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"
#include "model/hf_bnb_layout.h"
#include "model/hf_bnb_reader.h"
#include "model/hf_bnb_writer.h"
#include "model/quantized_checkpoint.h"
#include "quant/quantize_model.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;
const std::string kFp32Dir = std::string(GPT2Q_DATA_DIR) + "/gpt2-tiny-shakespeare";
const std::string kFixtures = std::string(GPT2Q_SHARED_DIR) + "/fixtures/hf-bnb/";
const std::string kInt8 = kFixtures + "gpt2-tiny-shakespeare-bnb-int8";
const std::string kNf4 = kFixtures + "gpt2-tiny-shakespeare-bnb-nf4";
const std::string kNf4Dq = kFixtures + "gpt2-tiny-shakespeare-bnb-nf4-dq";

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh folder under the temp dir, removed by the destructor.
struct TempDir {
  explicit TempDir(const std::string& tag)
      : path((fs::temp_directory_path() / ("gpt2q_hfbnb_" + tag + "_" + std::to_string(getpid()))).string()) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

// Returns the logits [32, n_vocab] of a fixed 32-token sequence.
std::vector<float> Logits(const GPT2& model, ThreadPool& pool) {
  std::vector<int32_t> tokens(32);
  for (int i = 0; i < 32; ++i) tokens[i] = (i * 37 + 11) % static_cast<int32_t>(model.config().n_vocab);
  KVCache cache(model.config(), 1, 32);
  std::vector<float> logits(32 * model.config().n_vocab);
  model.Forward(tokens.data(), 1, 32, cache, LogitsMode::kAll, logits.data(), pool);
  return logits;
}

// The fp32 fixture rounded to fp16 and quantized by `spec` on every block
// linear: the model an hf-bnb export writes.
ModelWeights QuantizedForExport(const std::string& spec_text, ThreadPool& pool) {
  auto w = LoadCheckpoint(kFp32Dir);
  EXPECT_TRUE(w.ok()) << w.message();
  EXPECT_TRUE(RoundWeightsToFp16(*w).ok());
  auto spec = ParseQuantSpec(spec_text);
  EXPECT_TRUE(spec.ok()) << spec.message();
  auto scope = MakeScope("no-lm-head", {}, {}, w->config.n_layer);
  EXPECT_TRUE(scope.ok()) << scope.message();
  auto report = QuantizeModel(*w, *spec, *scope, QuantMode::kPacked, pool);
  EXPECT_TRUE(report.ok()) << report.message();
  return std::move(w).value();
}

TEST(HfBnbReadTest, FixturesLoadIntoBitsandbytesFormats) {
  struct Case {
    std::string dir, format, quant;
  };
  for (const Case& c : {Case{kInt8, "llm-int8", "llm-int8:threshold=6"},
                        Case{kNf4, "nf4", "nf4:block=64,double=0"},
                        Case{kNf4Dq, "nf4", "nf4:block=64,double=1"}}) {
    SCOPED_TRACE(c.dir);
    auto w = LoadCheckpoint(c.dir);
    ASSERT_TRUE(w.ok()) << w.message();
    EXPECT_TRUE(w->head_tied());
    ForEachMatrix(*w, [&](const std::string& name, ParamKind kind, std::shared_ptr<WeightMatrix>& m) {
      EXPECT_EQ(m->format(), kind == ParamKind::kLinear ? c.format : "fp32") << name;
    });
    auto info = HfBnbCheckpointInfo(c.dir + "/config.json", *w);
    ASSERT_TRUE(info.ok()) << info.message();
    ASSERT_TRUE(info->has_value());
    EXPECT_EQ((*info)->quant, c.quant);
    EXPECT_EQ((*info)->scope, "hf-bnb");
    // Unquantized parameters are the stored fp16 values.
    auto file = SafetensorsFile::Open(c.dir + "/model.safetensors");
    ASSERT_TRUE(file.ok());
    const TensorView* ln = (*file)->Find("transformer.h.1.ln_2.bias");
    ASSERT_NE(ln, nullptr);
    for (int64_t i = 0; i < 128; ++i) {
      uint16_t h;
      std::memcpy(&h, ln->data + 2 * i, 2);
      ASSERT_EQ(w->blocks[1].ln_2_bias.data[i], Fp16ToFloat(h));
    }
  }
}

// Dequantizes row `row` of h.2.mlp.c_fc straight from the fixture's tensors
// with the formulas of its README: quant_map[code]·absmax, a nested absmax
// being fl32(fl32(nested_quant_map[q]·nested_absmax) + offset).
std::vector<float> DequantizeFromFile(const std::string& dir, int64_t row, int64_t cols) {
  auto file = SafetensorsFile::Open(dir + "/model.safetensors");
  EXPECT_TRUE(file.ok());
  const std::string m = "transformer.h.2.mlp.c_fc.";
  auto f32 = [&](const std::string& name, int64_t i) {
    float v;
    std::memcpy(&v, (*file)->Find(name)->data + 4 * i, 4);
    return v;
  };
  std::vector<float> out(cols);
  const uint8_t* codes = (*file)->Find(m + "weight")->data;
  const TensorView* absmax = (*file)->Find(m + "weight.absmax");
  const TensorView* state = (*file)->Find(m + "weight.quant_state.bitsandbytes__nf4");
  auto s = ParseBnb4QuantState("test", state->data, state->nbytes);
  EXPECT_TRUE(s.ok()) << s.message();
  for (int64_t c = 0; c < cols; ++c) {
    const int64_t k = row * cols + c;
    const int code = k % 2 == 0 ? codes[k / 2] >> 4 : codes[k / 2] & 0xF;
    const int64_t b = k / 64;
    float a;
    if (absmax->dtype == Dtype::kU8) {
      volatile float scaled = f32(m + "weight.nested_quant_map", absmax->data[b]) * f32(m + "weight.nested_absmax", b / 256);
      a = scaled + s->nested_offset;
    } else {
      a = f32(m + "weight.absmax", b);
    }
    out[c] = f32(m + "weight.quant_map", code) * a;
  }
  return out;
}

TEST(HfBnbReadTest, DequantizedRowsEqualTheFixtureFormulas) {
  for (const std::string& dir : {kInt8, kNf4, kNf4Dq}) {
    SCOPED_TRACE(dir);
    auto w = LoadCheckpoint(dir);
    ASSERT_TRUE(w.ok()) << w.message();
    const WeightMatrix& fc = *w->blocks[2].mlp_c_fc;  // [512, 128]
    if (const auto* int8 = dynamic_cast<const LlmInt8Matrix*>(&fc)) {
      // llm-int8 keeps the stored CB and SCB as they are.
      auto file = SafetensorsFile::Open(dir + "/model.safetensors");
      ASSERT_TRUE(file.ok());
      const auto* cb = reinterpret_cast<const int8_t*>((*file)->Find("transformer.h.2.mlp.c_fc.weight")->data);
      const auto* scb = reinterpret_cast<const float*>((*file)->Find("transformer.h.2.mlp.c_fc.SCB")->data);
      for (int64_t r = 0; r < 512; ++r) {
        ASSERT_EQ(FloatToBits(int8->Scale(r, 0)), FloatToBits(scb[r])) << r;
        for (int64_t c = 0; c < 128; ++c) ASSERT_EQ(int8->Code(r, c), cb[r * 128 + c]) << r << "," << c;
      }
      continue;
    }
    std::vector<float> row(128);
    for (int64_t r : {0, 1, 255, 511}) {
      fc.DequantizeRow(r, row.data());
      const std::vector<float> expected = DequantizeFromFile(dir, r, 128);
      for (int64_t c = 0; c < 128; ++c) ASSERT_EQ(FloatToBits(row[c]), FloatToBits(expected[c])) << r << "," << c;
    }
  }
}

// Every tensor's name, dtype and shape.
std::map<std::string, std::pair<std::string, std::vector<int64_t>>> Layout(const SafetensorsFile& f) {
  std::map<std::string, std::pair<std::string, std::vector<int64_t>>> out;
  for (const TensorView& t : f.tensors()) out[t.name] = {DtypeName(t.dtype), t.shape};
  return out;
}

// Exports the fp32 fixture with `spec` and compares with the independent
// fixture `dir`: names, dtypes, shapes, quant-state keys and values (and
// text), quantization_config; returns, by tensor kind (the name after
// "h.N.<module>.": "weight", "SCB", "weight.absmax", ...), how many values
// differ over all tensors of that kind.
std::map<std::string, int64_t> ExpectSameLayout(const std::string& spec, const std::string& dir) {
  SCOPED_TRACE(spec);
  ThreadPool pool(2);
  ModelWeights w = QuantizedForExport(spec, pool);
  TempDir out("layout");
  Status saved = SaveHfBnbCheckpoint(w, out.path);
  EXPECT_TRUE(saved.ok()) << saved.message();
  auto ours = SafetensorsFile::Open(out.path + "/model.safetensors");
  auto theirs = SafetensorsFile::Open(dir + "/model.safetensors");
  EXPECT_TRUE(ours.ok() && theirs.ok());
  std::map<std::string, int64_t> differing;
  if (!ours.ok() || !theirs.ok()) return {{"unreadable", 1}};
  EXPECT_EQ(Layout(**ours), Layout(**theirs));
  EXPECT_EQ((*ours)->metadata(), (*theirs)->metadata());
  for (const TensorView& t : (*theirs)->tensors()) {
    const TensorView* o = (*ours)->Find(t.name);
    if (o == nullptr || o->nbytes != t.nbytes) continue;
    if (t.name.find(".quant_state.") != std::string::npos) {
      const nlohmann::json a = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(o->data), o->nbytes));
      const nlohmann::json b = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(t.data), t.nbytes));
      EXPECT_EQ(a, b) << t.name;
      // Same text, byte for byte: key order, separators and float repr.
      EXPECT_EQ(std::memcmp(o->data, t.data, t.nbytes), 0) << t.name;
      continue;
    }
    std::string kind = t.name;
    for (const char* module : {".attn.c_attn.", ".attn.c_proj.", ".mlp.c_fc.", ".mlp.c_proj."}) {
      if (const size_t at = kind.find(module); at != std::string::npos) kind = kind.substr(at + std::strlen(module));
    }
    const int64_t size = DtypeSize(t.dtype);
    for (int64_t i = 0; i < t.nbytes; i += size) {
      if (std::memcmp(o->data + i, t.data + i, size) != 0) ++differing[kind];
    }
  }
  const nlohmann::json config_ours = nlohmann::json::parse(ReadText(out.path + "/config.json"));
  const nlohmann::json config_theirs = nlohmann::json::parse(ReadText(dir + "/config.json"));
  EXPECT_EQ(config_ours["quantization_config"], config_theirs["quantization_config"]);
  EXPECT_EQ(config_ours["torch_dtype"], config_theirs["torch_dtype"]);
  EXPECT_EQ(config_ours["tie_word_embeddings"], config_theirs["tie_word_embeddings"]);
  return differing;
}

TEST(HfBnbWriteTest, ExportHasTheFixturesLayout) {
  UseSingleThreadedBlas();
  // 4-bit: quantized from the same fp16 weights by bitsandbytes' arithmetic,
  // every value agrees (codes, absmax, quant_map, fp16 tensors).
  EXPECT_EQ(ExpectSameLayout("nf4", kNf4), (std::map<std::string, int64_t>{}));
  // Double quantization: the nested offset (hence the JSON) and the nested
  // codes agree; only the fixture's create_dynamic_map (torch 1.13's
  // linspace) differs from gpt2q's, in 44 of 256 entries, in the last bits.
  EXPECT_EQ(ExpectSameLayout("nf4:double=1", kNf4Dq),
            (std::map<std::string, int64_t>{{"weight.nested_quant_map", 16 * 44}}));
  // 8-bit: SCB agrees; gpt2q's llm-int8 scales by the correctly rounded
  // 127/SCB, the fixture by fl32(127·fl32(1/SCB)) (the GPU's __fdividef),
  // which its README says moves 69 CB values by one: those 69 differ.
  EXPECT_EQ(ExpectSameLayout("llm-int8", kInt8), (std::map<std::string, int64_t>{{"weight", 69}}));
}

TEST(HfBnbWriteTest, LoadedFixturesWriteBackTheSameTensors) {
  // Every stored value survives load → export unchanged (codes, SCB, absmax,
  // nested codes, the fixture's own nested_quant_map, fp16 tensors), and so
  // does the quant-state text (the nested offset's Python repr).
  for (const std::string& dir : {kInt8, kNf4, kNf4Dq}) {
    SCOPED_TRACE(dir);
    auto w = LoadCheckpoint(dir);
    ASSERT_TRUE(w.ok()) << w.message();
    TempDir out("rewrite");
    Status saved = SaveHfBnbCheckpoint(*w, out.path);
    ASSERT_TRUE(saved.ok()) << saved.message();
    auto ours = SafetensorsFile::Open(out.path + "/model.safetensors");
    auto theirs = SafetensorsFile::Open(dir + "/model.safetensors");
    ASSERT_TRUE(ours.ok() && theirs.ok());
    ASSERT_EQ(Layout(**ours), Layout(**theirs));
    for (const TensorView& t : (*theirs)->tensors()) {
      const TensorView* o = (*ours)->Find(t.name);
      ASSERT_EQ(o->nbytes, t.nbytes) << t.name;
      EXPECT_EQ(std::memcmp(o->data, t.data, t.nbytes), 0) << t.name;
    }
    // And gpt2q's own checkpoint keeps the nested map too.
    TempDir own("own");
    ASSERT_TRUE(SaveQuantizedCheckpoint(*w, own.path, {"nf4", "hf-bnb"}).ok());
    auto back = LoadCheckpoint(own.path);
    ASSERT_TRUE(back.ok()) << back.message();
    ThreadPool pool(2);
    GPT2 a(std::move(w).value()), b(std::move(back).value());
    const std::vector<float> la = Logits(a, pool), lb = Logits(b, pool);
    EXPECT_EQ(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)), 0);
  }
}

TEST(HfBnbWriteTest, ExportLoadsBackBitIdentical) {
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  for (const std::string spec : {"llm-int8", "llm-int8:threshold=0", "nf4", "nf4:double=1", "fp4",
                                 "fp4:double=1,block=128"}) {
    SCOPED_TRACE(spec);
    ModelWeights w = QuantizedForExport(spec, pool);
    TempDir out("roundtrip");
    Status saved = SaveHfBnbCheckpoint(w, out.path);
    ASSERT_TRUE(saved.ok()) << saved.message();
    auto loaded = LoadCheckpoint(out.path);
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    std::vector<std::string> formats_a, formats_b;
    ForEachMatrix(w, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
      formats_a.push_back(m->format() + " " + std::to_string(m->StoredBytes()));
    });
    ForEachMatrix(*loaded, [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
      formats_b.push_back(m->format() + " " + std::to_string(m->StoredBytes()));
    });
    EXPECT_EQ(formats_a, formats_b);
    GPT2 original(std::move(w)), reloaded(std::move(loaded).value());
    const std::vector<float> a = Logits(original, pool), b = Logits(reloaded, pool);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  }
}

TEST(HfBnbWriteTest, RefusesWhatTheLayoutCannotHold) {
  ThreadPool pool(2);
  TempDir out("refuse");
  {
    auto w = LoadCheckpoint(kFp32Dir);  // not rounded to fp16, nothing quantized
    ASSERT_TRUE(w.ok());
    Status s = SaveHfBnbCheckpoint(*w, out.path);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("is not an fp16 value"), std::string::npos) << s.message();
  }
  {
    ModelWeights w = QuantizedForExport("q4_0", pool);
    Status s = SaveHfBnbCheckpoint(w, out.path);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("expected llm-int8, nf4 or fp4"), std::string::npos) << s.message();
  }
  {
    auto w = LoadCheckpoint(kFp32Dir);
    ASSERT_TRUE(RoundWeightsToFp16(*w).ok());
    auto spec = ParseQuantSpec("nf4");
    auto scope = MakeScope("linear", {}, {}, w->config.n_layer);  // the tied head too
    ASSERT_TRUE(QuantizeModel(*w, *spec, *scope, QuantMode::kPacked, pool).ok());
    Status s = SaveHfBnbCheckpoint(*w, out.path);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("wte.weight"), std::string::npos) << s.message();
    EXPECT_NE(RoundWeightsToFp16(*w).message().find("already quantized"), std::string::npos);
  }
}

TEST(HfBnbLayoutTest, PythonFloatRepr) {
  EXPECT_EQ(PythonFloatRepr(0.08946450799703598), "0.08946450799703598");
  EXPECT_EQ(PythonFloatRepr(static_cast<double>(0.1f)), "0.10000000149011612");
  EXPECT_EQ(PythonFloatRepr(6.0), "6.0");
  EXPECT_EQ(PythonFloatRepr(1e-5), "1e-05");
  EXPECT_EQ(PythonFloatRepr(1.5e-5), "1.5e-05");
  EXPECT_EQ(PythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PythonFloatRepr(123456.5), "123456.5");
  EXPECT_EQ(PythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PythonFloatRepr(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(PythonFloatRepr(0.0), "0.0");
}

TEST(HfBnbReadTest, AcceptsDtypeKeyAndNoWeightFormat) {
  // transformers v5 writes `dtype` instead of `torch_dtype`; older bitsandbytes no weight_format.
  auto file = SafetensorsFile::Open(kInt8 + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  TempDir out("v5");
  std::vector<TensorToWrite> list;
  for (const TensorView& t : (*file)->tensors()) {
    if (t.name.find("weight_format") != std::string::npos) continue;
    list.push_back({t.name, t.dtype, t.shape, t.data, t.nbytes});
  }
  ASSERT_TRUE(WriteSafetensors(out.path + "/model.safetensors", list, {{"format", "pt"}}).ok());
  nlohmann::json config = nlohmann::json::parse(ReadText(kInt8 + "/config.json"));
  config.erase("torch_dtype");
  config["dtype"] = "float16";
  std::ofstream(out.path + "/config.json") << config.dump(2);
  auto a = LoadCheckpoint(out.path);
  ASSERT_TRUE(a.ok()) << a.message();
  auto b = LoadCheckpoint(kInt8);
  ASSERT_TRUE(b.ok()) << b.message();
  std::vector<float> ra(512), rb(512);
  a->blocks[3].mlp_c_proj->DequantizeRow(7, ra.data());
  b->blocks[3].mlp_c_proj->DequantizeRow(7, rb.data());
  EXPECT_EQ(ra, rb);
  EXPECT_EQ(a->blocks[3].mlp_c_proj->format(), "llm-int8");
}

}  // namespace
}  // namespace gpt2q
