// Malformed transformers + bitsandbytes folders (missing or mismatched quant
// parts, bad quant-state JSON, wrong shapes or dtypes, bad quantization_config):
// each a copy of an independent fixture with one thing changed, each one
// clear error naming the file, the tensor or key, expected vs actual.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "model/checkpoint.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;
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

// A tensor to write into a mutated copy of a fixture.
struct Tensor {
  Dtype dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
using Tensors = std::map<std::string, Tensor>;

// Copies fixture `dir` into a temp folder with `mutate` applied to its tensors
// and `mutate_config` to its config.json, loads it and returns the error.
std::string LoadError(const std::string& dir, const std::function<void(Tensors&)>& mutate,
                      const std::function<void(nlohmann::json&)>& mutate_config = {}) {
  auto file = SafetensorsFile::Open(dir + "/model.safetensors");
  EXPECT_TRUE(file.ok());
  Tensors tensors;
  for (const TensorView& t : (*file)->tensors()) {
    tensors[t.name] = {t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)};
  }
  mutate(tensors);
  for (auto& [name, t] : tensors) {  // a quant state replaced by other text: its length
    if (name.find(".quant_state.") != std::string::npos) t.shape = {static_cast<int64_t>(t.bytes.size())};
  }
  const std::string out = (fs::temp_directory_path() / ("gpt2q_hfbnb_bad_" + std::to_string(getpid()))).string();
  fs::remove_all(out);
  fs::create_directories(out);
  std::vector<TensorToWrite> list;
  for (const auto& [name, t] : tensors) {
    list.push_back({name, t.dtype, t.shape, t.bytes.data(), static_cast<int64_t>(t.bytes.size())});
  }
  EXPECT_TRUE(WriteSafetensors(out + "/model.safetensors", list, {{"format", "pt"}}).ok());
  nlohmann::json config = nlohmann::json::parse(ReadText(dir + "/config.json"));
  if (mutate_config) mutate_config(config);
  std::ofstream(out + "/config.json") << config.dump(2);
  auto w = LoadCheckpoint(out);
  fs::remove_all(out);
  EXPECT_FALSE(w.ok()) << "loaded a malformed folder";
  return w.ok() ? "" : w.message();
}

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

#define EXPECT_MENTIONS(message, text) \
  EXPECT_NE((message).find(text), std::string::npos) << "missing '" << (text) << "' in: " << (message)

const std::string kC = "transformer.h.1.attn.c_proj.";  // a [128, 128] linear

TEST(HfBnbMalformedTest, MissingOrMismatchedInt8Parts) {
  std::string e = LoadError(kInt8, [](Tensors& t) { t.erase(kC + "SCB"); });
  EXPECT_MENTIONS(e, "model.safetensors: tensor '" + kC + "weight' is int8 but 'h.1.attn.c_proj.SCB'");
  e = LoadError(kInt8, [](Tensors& t) { t.erase(kC + "weight"); });
  EXPECT_MENTIONS(e, "tensor '" + kC + "SCB': an 8-bit part of 'h.1.attn.c_proj', whose weight is missing");
  e = LoadError(kInt8, [](Tensors& t) { t[kC + "SCB"].shape = {64, 2}; });
  EXPECT_MENTIONS(e, "tensor '" + kC + "SCB': shape: expected [128], got [64, 2]");
  e = LoadError(kInt8, [](Tensors& t) { t[kC + "weight"].dtype = Dtype::kU8; });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight': dtype: expected I8, got U8");
  e = LoadError(kInt8, [](Tensors& t) {
    Tensor& w = t[kC + "weight"];
    w.shape = {64, 256};
  });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight': shape: expected [128, 128], got [64, 256]");
  e = LoadError(kInt8, [](Tensors& t) { t[kC + "weight_format"].bytes = {2}; });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight_format': value: expected 0");
  e = LoadError(kInt8, [](Tensors& t) {
    Tensor& scb = t[kC + "SCB"];
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(scb.bytes.data() + 8, &nan, 4);
  });
  EXPECT_MENTIONS(e, "tensor '" + kC + "SCB' has 1 non-finite value");
}

TEST(HfBnbMalformedTest, MissingOrMismatchedFourBitParts) {
  std::string e = LoadError(kNf4, [](Tensors& t) { t.erase(kC + "weight.absmax"); });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight': missing '" + kC + "weight.absmax'");
  e = LoadError(kNf4, [](Tensors& t) { t.erase(kC + "weight.quant_state.bitsandbytes__nf4"); });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight': missing its quant state");
  e = LoadError(kNf4, [](Tensors& t) { t.erase(kC + "weight"); });
  EXPECT_MENTIONS(e, "a 4-bit part of 'h.1.attn.c_proj', whose weight is missing");
  e = LoadError(kNf4, [](Tensors& t) { t[kC + "weight.absmax"].dtype = Dtype::kI32; });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight.absmax': dtype: expected F32, got I32");
  e = LoadError(kNf4, [](Tensors& t) { t[kC + "weight"].shape = {8192}; });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight': shape: expected [8192, 1], got [8192]");
  e = LoadError(kNf4, [](Tensors& t) { t[kC + "weight.quant_map"].bytes[5] ^= 1; });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight.quant_map': value 1: expected the NF4 value");
  e = LoadError(kNf4, [](Tensors& t) {
    t[kC + "weight.quant_state.bitsandbytes__fp4"] = t[kC + "weight.quant_state.bitsandbytes__nf4"];
    t.erase(kC + "weight.quant_state.bitsandbytes__nf4");
  });
  EXPECT_MENTIONS(e, "quant_state.bitsandbytes__fp4': quant_type: expected \"fp4\" (the tensor's name), got \"nf4\"");
  e = LoadError(kNf4, [](Tensors& t) { t[kC + "weight.extra"] = t[kC + "weight.quant_map"]; });
  EXPECT_MENTIONS(e, "unknown tensor '" + kC + "weight.extra'");
  // Double quantization: nested parts and the nested state go together.
  e = LoadError(kNf4Dq, [](Tensors& t) { t.erase(kC + "weight.nested_absmax"); });
  EXPECT_MENTIONS(e, "missing '" + kC + "weight.nested_absmax' (the quant state says double quantization)");
  e = LoadError(kNf4Dq, [](Tensors& t) { t[kC + "weight.nested_quant_map"].shape = {128, 2}; });
  EXPECT_MENTIONS(e, "weight.nested_quant_map': shape: expected [256], got [128, 2]");
  e = LoadError(kNf4Dq, [](Tensors& t) {
    t[kC + "weight.quant_state.bitsandbytes__nf4"].bytes =
        Bytes("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [128, 128]}");
  });
  EXPECT_MENTIONS(e, "tensor '" + kC + "weight.nested_absmax': double-quantization part, but the quant state");
}

TEST(HfBnbMalformedTest, BadQuantStateJson) {
  auto with_state = [](const std::string& json) {
    return LoadError(kNf4, [&](Tensors& t) { t[kC + "weight.quant_state.bitsandbytes__nf4"].bytes = Bytes(json); });
  };
  const std::string where = "tensor '" + kC + "weight.quant_state.bitsandbytes__nf4': ";
  EXPECT_MENTIONS(with_state("{\"quant_type\": \"nf4\", \"blocksize\": 64,"), where + "expected the JSON object");
  EXPECT_MENTIONS(with_state("{\"quant_type\": \"nf4\", \"dtype\": \"float16\", \"shape\": [128, 128]}"),
                  where + "missing key 'blocksize'");
  EXPECT_MENTIONS(with_state("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [128, 64]}"),
                  where + "shape: expected [128, 128] ([out, in] of the config's h.1.attn.c_proj), got [128, 64]");
  EXPECT_MENTIONS(with_state("{\"quant_type\": \"nf4\", \"blocksize\": 48, \"dtype\": \"float16\", \"shape\": [128, 128]}"),
                  where + "blocksize: nf4: option block=48");
  EXPECT_MENTIONS(with_state("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"int8\", \"shape\": [128, 128]}"),
                  where + "key 'dtype': expected \"float16\", \"float32\" or \"bfloat16\", got \"int8\"");
  EXPECT_MENTIONS(with_state("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [128, 128], \"x\": 1}"),
                  where + "unknown key 'x'");
  EXPECT_MENTIONS(with_state("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [128, 128], "
                             "\"nested_offset\": 0.5}"),
                  where + "expected all of nested_blocksize, nested_dtype and nested_offset");
  // blocksize 128 is valid, but then absmax has the wrong length.
  EXPECT_MENTIONS(with_state("{\"quant_type\": \"nf4\", \"blocksize\": 128, \"dtype\": \"float16\", \"shape\": [128, 128]}"),
                  "tensor '" + kC + "weight.absmax': shape: expected [128], got [256]");
}

TEST(HfBnbMalformedTest, BadQuantizationConfig) {
  auto no_op = [](Tensors&) {};
  std::string e = LoadError(kNf4, no_op, [](nlohmann::json& c) { c["quantization_config"]["quant_method"] = "gptq"; });
  EXPECT_MENTIONS(e, "config.json: quantization_config: key 'quant_method': expected \"bitsandbytes\"");
  e = LoadError(kNf4, no_op, [](nlohmann::json& c) { c["quantization_config"]["load_in_8bit"] = true; });
  EXPECT_MENTIONS(e, "expected exactly one true, got both");
  e = LoadError(kNf4, no_op, [](nlohmann::json& c) { c["quantization_config"]["bnb_4bit_quant_storage"] = "bfloat16"; });
  EXPECT_MENTIONS(e, "key 'bnb_4bit_quant_storage': expected \"uint8\", got \"bfloat16\"");
  e = LoadError(kInt8, no_op, [](nlohmann::json& c) { c["quantization_config"]["llm_int8_has_fp16_weight"] = true; });
  EXPECT_MENTIONS(e, "key 'llm_int8_has_fp16_weight': expected false");
  e = LoadError(kInt8, no_op, [](nlohmann::json& c) { c["dtype"] = "bfloat16"; });
  EXPECT_MENTIONS(e, "keys 'dtype' and 'torch_dtype': expected the same value");
  // An 8-bit config over 4-bit tensors: the int8 weight is not there.
  e = LoadError(kNf4, no_op, [](nlohmann::json& c) {
    c["quantization_config"]["load_in_8bit"] = true;
    c["quantization_config"]["load_in_4bit"] = false;
  });
  EXPECT_MENTIONS(e, "expected I8, got U8");
}

}  // namespace
}  // namespace gpt2q
