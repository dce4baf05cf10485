// Generators of malformed checkpoint folders, each with the message fragment
// the loader must report; shared by the loader tests and the CLI's exit-code tests.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
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

// Writes a valid tiny random GPT-2 (F32, prefixed names) with the fixture's
// tokenizer files into `dir`.
inline void WriteTinyCheckpoint(const std::string& dir) {
  ThreadPool pool(1);
  ModelWeights w = MakeSyntheticModel(TinyConfig(), 1, pool);
  Status s = SaveCheckpoint(w, dir, Dtype::kF32, /*prefixed_names=*/true);
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
      {"header_not_json", raw("{\"a\": [1, 2", 0, "header is not valid JSON")},
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

}  // namespace gpt2q::testing
