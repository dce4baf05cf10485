// Generators of malformed checkpoint folders, each with the message fragment
// the loader must report; shared by the loader tests and the CLI's exit-code tests.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "formats/format.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/quantized_checkpoint.h"
#include "model/synthetic.h"

namespace gpt2q::testing {

// Returns a fresh empty directory under the system temp dir.
inline std::string MakeTempDir(const std::string& tag) {
  static int counter = 0;
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("gpt2q_" + tag + "_" + std::to_string(::getpid()) + "_" +
                               std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Writes a raw safetensors file: 8-byte length, `header` as is, `data_bytes` zero bytes.
inline void WriteRawSafetensors(const std::string& path, const std::string& header,
                                size_t data_bytes) {
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(n >> (8 * i));
  bytes += header;
  bytes.append(data_bytes, '\0');
  WriteText(path, bytes);
}

// The config of the tiny valid checkpoint: real vocab, tiny everything else.
inline GPT2Config TinyConfig() {
  GPT2Config c;
  c.n_vocab = 50257;
  c.n_ctx = 16;
  c.n_embd = 8;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_inner = 32;
  return c;
}

// Writes a valid tiny random GPT-2 (`dtype`, prefixed names) with the fixture's
// tokenizer files into `dir`.
inline void WriteTinyCheckpoint(const std::string& dir, Dtype dtype = Dtype::kF32) {
  ThreadPool pool(1);
  ModelWeights w = MakeSyntheticModel(TinyConfig(), 1, pool);
  Status s = SaveCheckpoint(w, dir, dtype, /*prefixed_names=*/true);
  if (s.ok()) s = CopyTokenizerFiles(GPT2Q_DATA_DIR "/gpt2-tiny-shakespeare", dir);
  if (!s.ok()) throw std::runtime_error(s.message());
}

// Rewrites `dir`/model.safetensors after `edit` changes its list of tensors.
inline void RewriteTensors(const std::string& dir,
                           const std::function<void(std::vector<TensorToWrite>&)>& edit) {
  const std::string path = dir + "/model.safetensors";
  std::vector<TensorToWrite> tensors;
  std::vector<std::vector<uint8_t>> bytes;
  {
    auto file = SafetensorsFile::Open(path);
    if (!file.ok()) throw std::runtime_error(file.message());
    for (const TensorView& t : (*file)->tensors()) bytes.emplace_back(t.data, t.data + t.nbytes);
    size_t i = 0;
    for (const TensorView& t : (*file)->tensors()) {
      tensors.push_back({t.name, t.dtype, t.shape, bytes[i++].data(), t.nbytes});
    }
  }  // unmapped before the file is rewritten
  edit(tensors);
  Status s = WriteSafetensors(path, tensors, {{"format", "pt"}});
  if (!s.ok()) throw std::runtime_error(s.message());
}

// Writes a valid tiny quantized checkpoint (gpt2q layout): h.0.mlp.c_fc.weight
// ([n_inner, n_embd]) in `format` with default params, everything else fp32.
inline void WriteTinyQuantizedCheckpoint(const std::string& dir, const std::string& format,
                                         const GPT2Config& config = TinyConfig()) {
  ThreadPool pool(1);
  ModelWeights w = MakeSyntheticModel(config, 1, pool);
  std::shared_ptr<WeightMatrix>& m = w.blocks[0].mlp_c_fc;
  std::vector<float> values(static_cast<size_t>(m->rows() * m->cols()));
  for (int64_t r = 0; r < m->rows(); ++r) m->DequantizeRow(r, values.data() + r * m->cols());
  auto traits = FindFormat(format);
  if (!traits.ok()) throw std::runtime_error(traits.message());
  auto q = (*traits)->quantize(values.data(), m->rows(), m->cols(), {}, pool);
  if (!q.ok()) throw std::runtime_error(q.message());
  m = std::shared_ptr<WeightMatrix>(std::move(q).value());
  Status s = SaveQuantizedCheckpoint(w, dir, {format, "custom", "packed"});
  if (s.ok()) s = CopyTokenizerFiles(GPT2Q_DATA_DIR "/gpt2-tiny-shakespeare", dir);
  if (!s.ok()) throw std::runtime_error(s.message());
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Lets `edit` change the bytes of tensor `name` of the safetensors file `path` in place.
inline void EditTensorBytes(const std::string& path, const std::string& name,
                            const std::function<void(uint8_t* data, int64_t nbytes)>& edit) {
  std::vector<uint8_t> bytes = ReadBytes(path);
  auto file = SafetensorsFile::FromBytes(path, bytes.data(), bytes.size(), nullptr);
  if (!file.ok()) throw std::runtime_error(file.message());
  const TensorView* t = (*file)->Find(name);
  if (t == nullptr) throw std::runtime_error(path + ": no tensor " + name);
  edit(bytes.data() + (t->data - bytes.data()), t->nbytes);
  WriteText(path, std::string(bytes.begin(), bytes.end()));
}

// Stores `value` (a float, or the bits of a 16-bit float) at element `index` of tensor `name`.
inline void PokeFloat(const std::string& path, const std::string& name, int64_t index, float value) {
  EditTensorBytes(path, name, [&](uint8_t* d, int64_t) { std::memcpy(d + 4 * index, &value, 4); });
}
inline void PokeHalf(const std::string& path, const std::string& name, int64_t index, uint16_t bits) {
  EditTensorBytes(path, name, [&](uint8_t* d, int64_t) { std::memcpy(d + 2 * index, &bits, 2); });
}

inline TensorToWrite* FindTensor(std::vector<TensorToWrite>& tensors, const std::string& name) {
  for (TensorToWrite& t : tensors) {
    if (t.name == name) return &t;
  }
  throw std::runtime_error("no tensor " + name);
}

// A kind of malformed checkpoint: `write(dir)` fills `dir` and returns the
// fragment that the loader's error message must contain.
struct BadInput {
  std::string name;
  std::function<std::string(const std::string& dir)> write;
};

// Returns every malformed-checkpoint generator. Each writes a complete folder
// (config.json, model.safetensors, vocab.json, merges.txt) with exactly one defect.
inline std::vector<BadInput> BadInputs() {
  const std::string model = "/model.safetensors";
  auto raw = [model](std::string header, size_t data, std::string fragment) {
    return [=](const std::string& dir) {
      WriteTinyCheckpoint(dir);
      WriteRawSafetensors(dir + model, header, data);
      return fragment;
    };
  };
  auto config = [](std::string text, std::string fragment) {
    return [=](const std::string& dir) {
      WriteTinyCheckpoint(dir);
      WriteText(dir + "/config.json", text);
      return fragment;
    };
  };
  auto rewrite = [](std::function<void(std::vector<TensorToWrite>&)> edit, std::string fragment) {
    return [=](const std::string& dir) {
      WriteTinyCheckpoint(dir);
      RewriteTensors(dir, edit);
      return fragment;
    };
  };
  return {
      {"truncated_file",
       [model](const std::string& dir) {
         WriteTinyCheckpoint(dir);
         WriteText(dir + model, std::string("\x10\x00\x00", 3));
         return std::string("truncated safetensors file: expected at least 8 bytes");
       }},
      {"header_past_end",
       [model](const std::string& dir) {
         WriteTinyCheckpoint(dir);
         WriteText(dir + model, std::string("\x64\0\0\0\0\0\0\0{}", 10));  // says 100
         return std::string("header length 100 runs past the end of the file (2 bytes");
       }},
      {"header_too_long",
       [model](const std::string& dir) {
         WriteTinyCheckpoint(dir);
         std::string bytes = "\xff\xff\xff\xff\xff\xff\xff\x7f{}";
         WriteText(dir + model, bytes);
         return std::string("runs past the end of the file");
       }},
      // Cut inside an entry: the streaming parser rejects a wrong-typed value
      // ({"a": [1, 2 …) as such before it learns that the JSON is cut.
      {"header_not_json", raw("{\"a\": {\"dtype\": \"F3", 0, "header is not valid JSON")},
      {"overlapping_offsets",
       raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           16, "overlap")},
      {"offsets_out_of_range",
       raw(R"({"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})", 16, "out of range")},
      {"size_mismatch",
       raw(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 16, "size mismatch")},
      {"unknown_dtype",
       raw(R"({"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype 'F12'")},
      {"wrong_dtype",
       rewrite([](auto& t) { FindTensor(t, "transformer.ln_f.weight")->dtype = Dtype::kI32; },
               "tensor 'transformer.ln_f.weight': expected dtype F32, F16 or BF16, got I32")},
      {"wrong_shape",
       rewrite([](auto& t) { FindTensor(t, "transformer.h.0.attn.c_attn.weight")->shape = {24, 8}; },
               "expected shape [8, 24]")},
      {"missing_tensor",
       rewrite([](auto& t) { t.erase(t.begin() + 3); },  // wte, wpe, ln_1.weight, ln_1.bias
               "missing tensor 'h.0.ln_1.bias'")},
      {"unknown_tensor",
       rewrite([](auto& t) { t.push_back({"transformer.h.0.mlp.gate.weight", Dtype::kF32, {2},
                                          t[0].data, 8}); },
               "unknown tensor 'transformer.h.0.mlp.gate.weight'")},
      {"duplicate_tensor_name",
       [model](const std::string& dir) {
         WriteTinyCheckpoint(dir);
         RewriteTensors(dir, [](auto& t) {
           TensorToWrite copy = *FindTensor(t, "transformer.ln_f.bias");
           copy.name = "transformer.ln_f.biaX";  // renamed below, in the header's text
           t.push_back(copy);
         });
         std::vector<uint8_t> bytes = ReadBytes(dir + model);
         std::string text(bytes.begin(), bytes.end());
         text.replace(text.find("transformer.ln_f.biaX"), 21, "transformer.ln_f.bias");
         WriteText(dir + model, text);
         return std::string("tensor 'transformer.ln_f.bias' appears twice in the header");
       }},
      {"nan_and_inf_in_f32_weight",
       [model](const std::string& dir) {
         WriteTinyCheckpoint(dir);
         PokeFloat(dir + model, "transformer.h.0.mlp.c_fc.weight", 5,
                   std::numeric_limits<float>::quiet_NaN());
         PokeFloat(dir + model, "transformer.h.0.mlp.c_fc.weight", 9,
                   std::numeric_limits<float>::infinity());
         return std::string("tensor 'transformer.h.0.mlp.c_fc.weight' has 2 non-finite values "
                            "(NaN or Inf) of 256, the first at index 5");
       }},
      {"inf_in_f16_weight",
       [model](const std::string& dir) {
         WriteTinyCheckpoint(dir, Dtype::kF16);
         PokeHalf(dir + model, "transformer.h.0.attn.c_attn.weight", 7, 0xFC00);  // -Inf
         return std::string("tensor 'transformer.h.0.attn.c_attn.weight' has 1 non-finite value "
                            "(NaN or Inf) of 192, the first at index 7");
       }},
      {"nan_in_f16_embedding",
       [model](const std::string& dir) {
         WriteTinyCheckpoint(dir, Dtype::kF16);
         PokeHalf(dir + model, "transformer.wte.weight", 400000, 0x7E00);  // NaN
         return std::string("tensor 'transformer.wte.weight' has 1 non-finite value (NaN or Inf) "
                            "of 402056, the first at index 400000");
       }},
      {"nan_in_bf16_layernorm",
       [model](const std::string& dir) {
         WriteTinyCheckpoint(dir, Dtype::kBF16);
         PokeHalf(dir + model, "transformer.ln_f.weight", 3, 0x7FC0);  // NaN
         return std::string("tensor 'transformer.ln_f.weight' has 1 non-finite value (NaN or "
                            "Inf) of 8, the first at index 3");
       }},
      {"nan_in_nf4_absmax",
       [model](const std::string& dir) {
         WriteTinyQuantizedCheckpoint(dir, "nf4");
         PokeFloat(dir + model, "h.0.mlp.c_fc.weight.absmax", 2,
                   std::numeric_limits<float>::quiet_NaN());
         return std::string("tensor 'h.0.mlp.c_fc.weight.absmax' has 1 non-finite value (NaN or "
                            "Inf) of 4, the first at index 2");
       }},
      {"invalid_config_json", config("{\"n_embd\": ", "config.json: not valid JSON")},
      {"non_gpt2_model_type",
       config(R"({"model_type":"llama","vocab_size":50257,"n_positions":16,"n_embd":8,)"
              R"("n_layer":1,"n_head":2})",
              "not a GPT-2 model")},
      {"non_gpt2_activation",
       config(R"({"activation_function":"relu","vocab_size":50257,"n_positions":16,)"
              R"("n_embd":8,"n_layer":1,"n_head":2})",
              "activation_function")},
      {"heads_do_not_divide",
       config(R"({"vocab_size":50257,"n_positions":16,"n_embd":8,"n_layer":1,"n_head":3})",
              "must be divisible by n_head")},
  };
}

// Returns every tokenizer defect that a whole folder can have: each writes a
// complete tiny checkpoint whose vocab.json and merges.txt disagree, and
// returns the fragment the tokenizer's error must contain. The checkpoint
// itself loads.
inline std::vector<BadInput> BadTokenizerInputs() {
  auto merges = [](std::function<std::string(const std::string&)> edit, std::string fragment) {
    return [=](const std::string& dir) {
      WriteTinyCheckpoint(dir);
      std::vector<uint8_t> bytes = ReadBytes(dir + "/merges.txt");
      WriteText(dir + "/merges.txt", edit(std::string(bytes.begin(), bytes.end())));
      return fragment;
    };
  };
  // The first `lines` lines of `text`, as an interrupted copy leaves them.
  auto first_lines = [](const std::string& text, int lines) {
    size_t pos = 0;
    for (int i = 0; i < lines; ++i) pos = text.find('\n', pos) + 1;
    return text.substr(0, pos);
  };
  return {
      {"empty_merges", merges([](const std::string&) { return std::string(); },
                              "merges.txt has 0 merges but")},
      {"truncated_merges",
       merges([=](const std::string& t) { return first_lines(t, 12001); },  // #version + 12,000
              "merges.txt has 12,000 merges but")},
      {"vocab_missing_a_merge_result",
       [](const std::string& dir) {
         WriteTinyCheckpoint(dir);
         std::vector<uint8_t> bytes = ReadBytes(dir + "/vocab.json");
         nlohmann::ordered_json vocab = nlohmann::ordered_json::parse(bytes.begin(), bytes.end());
         // Drop the token of the last merge and close the gap in the ids.
         for (auto it = vocab.begin(); it != vocab.end(); ++it) {
           if (it.value() == 50255) {
             vocab.erase(it.key());
             break;
           }
         }
         vocab["<|endoftext|>"] = 50255;
         WriteText(dir + "/vocab.json", vocab.dump());
         return std::string("vocab.json looks incomplete");
       }},
  };
}

}  // namespace gpt2q::testing
