// Malformed GGUF models: each one clear error naming the file, the key or
// tensor and expected vs actual (the container's own faults: tests/io/gguf_test.cc).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>

#include "io/gguf_writer.h"
#include "model/gguf_checkpoint.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;

// A tiny GPT-2 (vocab 4, ctx 2, embd 32, 1 layer, 1 head, inner 32) written
// key by key and tensor by tensor, so that each test can change one thing.
struct TinyGguf {
  std::string arch = "gpt2";
  std::string tokenizer = "gpt2";
  std::map<std::string, uint32_t> u32 = {{"gpt2.block_count", 1},      {"gpt2.context_length", 2},
                                         {"gpt2.embedding_length", 32}, {"gpt2.feed_forward_length", 32},
                                         {"gpt2.attention.head_count", 1}};
  std::vector<std::string> drop;                          // keys or tensors left out
  std::map<std::string, uint32_t> types;                  // tensor → ggml type (default f32)
  std::map<std::string, std::vector<int64_t>> shapes;     // tensor → ggml shape
  std::vector<std::string> extra;                         // more f32 [32] tensors
  std::map<std::string, float> first_value;               // tensor → its value 0

  bool Dropped(const std::string& name) const { return std::find(drop.begin(), drop.end(), name) != drop.end(); }

  std::string Write() const {
    const fs::path path = fs::temp_directory_path() / ("gpt2q_bad_gguf_" + std::to_string(getpid()) + ".gguf");
    GgufWriter w;
    if (!Dropped("general.architecture")) w.AddString("general.architecture", arch);
    for (const auto& [key, value] : u32) {
      if (!Dropped(key)) w.AddU32(key, value);
    }
    if (!Dropped("gpt2.attention.layer_norm_epsilon")) w.AddF32("gpt2.attention.layer_norm_epsilon", 1e-5f);
    w.AddString("tokenizer.ggml.model", tokenizer);
    if (!Dropped("tokenizer.ggml.tokens")) w.AddStrings("tokenizer.ggml.tokens", {"a", "b", "ab", "<|endoftext|>"});
    w.AddI32s("tokenizer.ggml.token_type", {1, 1, 1, 3});
    w.AddStrings("tokenizer.ggml.merges", {"a b"});
    std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {
        {"token_embd.weight", {32, 4}},      {"position_embd.weight", {32, 2}},
        {"output_norm.weight", {32}},        {"output_norm.bias", {32}},
        {"blk.0.attn_norm.weight", {32}},    {"blk.0.attn_norm.bias", {32}},
        {"blk.0.attn_qkv.weight", {32, 96}}, {"blk.0.attn_qkv.bias", {96}},
        {"blk.0.attn_output.weight", {32, 32}}, {"blk.0.attn_output.bias", {32}},
        {"blk.0.ffn_norm.weight", {32}},     {"blk.0.ffn_norm.bias", {32}},
        {"blk.0.ffn_up.weight", {32, 32}},   {"blk.0.ffn_up.bias", {32}},
        {"blk.0.ffn_down.weight", {32, 32}}, {"blk.0.ffn_down.bias", {32}}};
    for (const std::string& name : extra) tensors.push_back({name, {32}});
    static std::vector<std::vector<uint8_t>> storage;
    storage.clear();
    storage.reserve(tensors.size());
    for (auto& [name, ne] : tensors) {
      if (Dropped(name)) continue;
      if (auto it = shapes.find(name); it != shapes.end()) ne = it->second;
      const uint32_t type = types.count(name) ? types.at(name) : kGgmlF32;
      const GgmlTypeSize size = *GgmlTypeSizeOf(type);
      int64_t numel = 1;
      for (int64_t d : ne) numel *= d;
      auto& bytes = storage.emplace_back(static_cast<size_t>(numel / size.block_values * size.block_bytes), 0);
      if (auto it = first_value.find(name); it != first_value.end()) std::memcpy(bytes.data(), &it->second, 4);
      w.AddTensor(name, ne, type, bytes.data(), static_cast<int64_t>(bytes.size()));
    }
    EXPECT_TRUE(w.Write(path.string()).ok());
    return path.string();
  }
};

// Expects loading `g` to fail with a message holding the file and every part.
void ExpectError(const TinyGguf& g, std::initializer_list<std::string> parts) {
  const std::string path = g.Write();
  auto ck = LoadGgufCheckpoint(path);
  ASSERT_FALSE(ck.ok());
  EXPECT_EQ(ck.message().rfind(path + ": ", 0), 0u) << ck.message();
  for (const std::string& part : parts) {
    EXPECT_NE(ck.message().find(part), std::string::npos) << "'" << part << "' not in: " << ck.message();
  }
  fs::remove(path);
}

TEST(GgufBadFiles, TheTinyFileLoads) {
  const std::string path = TinyGguf().Write();
  auto ck = LoadGgufCheckpoint(path);
  ASSERT_TRUE(ck.ok()) << ck.message();
  EXPECT_EQ(ck->weights.config.n_vocab, 4);
  EXPECT_EQ(ck->weights.config.eos_token_id, 3);  // min(50256, n_vocab - 1) without the key
  EXPECT_TRUE(ck->weights.head_tied());           // no output.weight
  fs::remove(path);
}

TEST(GgufBadFiles, WrongArchitectureOrTokenizer) {
  TinyGguf llama;
  llama.arch = "llama";
  ExpectError(llama, {"'general.architecture': expected \"gpt2\", got \"llama\""});
  TinyGguf spm;
  spm.tokenizer = "llama";
  ExpectError(spm, {"'tokenizer.ggml.model': expected \"gpt2\"", "got \"llama\""});
}

TEST(GgufBadFiles, MissingKeys) {
  for (const std::string key : {"general.architecture", "gpt2.block_count", "gpt2.context_length",
                                "gpt2.embedding_length", "gpt2.attention.head_count",
                                "gpt2.attention.layer_norm_epsilon", "tokenizer.ggml.tokens"}) {
    TinyGguf g;
    g.drop = {key};
    ExpectError(g, {"missing metadata key '" + key + "'"});
  }
}

TEST(GgufBadFiles, ConfigValuesOutOfRange) {
  TinyGguf heads;
  heads.u32["gpt2.attention.head_count"] = 3;
  ExpectError(heads, {"gpt2.embedding_length (32) must be divisible by gpt2.attention.head_count (3)"});
  TinyGguf layers;
  layers.u32["gpt2.block_count"] = 0;
  ExpectError(layers, {"'gpt2.block_count': expected an integer in [1, 1024], got 0"});
}

TEST(GgufBadFiles, MissingUnknownOrMisshapenTensors) {
  TinyGguf missing;
  missing.drop = {"blk.0.ffn_up.weight"};
  ExpectError(missing, {"missing tensor 'blk.0.ffn_up.weight' (expected ggml shape [32, 32])"});
  TinyGguf unknown;
  unknown.extra = {"blk.0.attn_q.weight"};
  ExpectError(unknown, {"unknown tensor 'blk.0.attn_q.weight'", "not a tensor of a 1-layer GPT-2"});
  TinyGguf layer;
  layer.extra = {"blk.1.attn_norm.weight"};
  ExpectError(layer, {"unknown tensor 'blk.1.attn_norm.weight'"});
  TinyGguf shape;
  shape.shapes["blk.0.attn_qkv.weight"] = {96, 32};  // [out, in] the wrong way round
  ExpectError(shape, {"tensor 'blk.0.attn_qkv.weight': expected ggml shape [32, 96]", "got [96, 32]"});
}

TEST(GgufBadFiles, TypesGpt2qHasNoFormatFor) {
  TinyGguf f64;
  f64.types["blk.0.ffn_up.weight"] = 28;
  ExpectError(f64, {"tensor 'blk.0.ffn_up.weight': ggml type f64 has no gpt2q format", "gpt2q reads f32, f16, bf16"});
  TinyGguf i32;
  i32.types["blk.0.ffn_norm.bias"] = 26;
  ExpectError(i32, {"tensor 'blk.0.ffn_norm.bias': ggml type i32 cannot be read as fp32 values"});
}

// BF16 tensors load: a matrix as bf16 (viewed in the file), a vector as fp32.
TEST(GgufBadFiles, Bf16TensorsLoad) {
  TinyGguf g;
  g.types["blk.0.ffn_up.weight"] = 30;
  g.types["blk.0.ffn_norm.bias"] = 30;
  const uint16_t two_and_minus_half[2] = {0x4000, 0xBF00};  // bf16 2.0, -0.5
  float packed;
  std::memcpy(&packed, two_and_minus_half, 4);
  g.first_value["blk.0.ffn_norm.bias"] = packed;
  const std::string path = g.Write();
  auto ck = LoadGgufCheckpoint(path);
  ASSERT_TRUE(ck.ok()) << ck.message();
  EXPECT_EQ(ck->weights.blocks[0].mlp_c_fc->format(), "bf16");
  EXPECT_EQ(ck->weights.blocks[0].ln_2_bias.data[0], 2.0f);
  EXPECT_EQ(ck->weights.blocks[0].ln_2_bias.data[1], -0.5f);
  fs::remove(path);
}

TEST(GgufBadFiles, NonFiniteWeights) {
  TinyGguf g;
  g.first_value["blk.0.attn_output.weight"] = std::numeric_limits<float>::quiet_NaN();
  ExpectError(g, {"tensor 'blk.0.attn_output.weight' has 1 non-finite value", "--allow-nonfinite"});
  const std::string path = g.Write();
  LoadOptions allow;
  allow.allow_nonfinite = true;
  std::vector<NonFiniteTensor> found;
  auto ck = LoadGgufCheckpoint(path, allow, &found);
  ASSERT_TRUE(ck.ok()) << ck.message();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].name, "blk.0.attn_output.weight");
  fs::remove(path);
}

}  // namespace
}  // namespace gpt2q
