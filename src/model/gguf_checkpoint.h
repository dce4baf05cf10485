// GPT-2 as GGUF holds it (llama.cpp's LLM_ARCH_GPT2): the tensor names and
// shapes of llama.cpp's GPT-2 converter, the metadata keys its loader reads,
// and LoadGgufCheckpoint, which maps a .gguf into ModelWeights without copying
// or re-quantizing any weight matrix.
//
// Names (GGUF ← Hugging Face): token_embd ← wte, position_embd ← wpe,
// blk.N.attn_norm ← h.N.ln_1, blk.N.attn_qkv ← h.N.attn.c_attn,
// blk.N.attn_output ← h.N.attn.c_proj, blk.N.ffn_norm ← h.N.ln_2,
// blk.N.ffn_up ← h.N.mlp.c_fc, blk.N.ffn_down ← h.N.mlp.c_proj,
// output_norm ← ln_f, output ← lm_head (the tied head written again, as the
// converter does). Matrices are [out, in] row-major (ggml ne = [in, out]):
// GPT-2's Conv1D weights transposed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/gguf.h"
#include "model/checkpoint.h"
#include "model/weights.h"

namespace gpt2q {

// One parameter: its GGUF and Hugging Face names, ggml shape and where it
// lives in ModelWeights (a matrix or a vector).
template <typename W>
struct GgufParam {
  using Matrix = std::conditional_t<std::is_const_v<W>, const std::shared_ptr<WeightMatrix>,
                                    std::shared_ptr<WeightMatrix>>;
  using Span = std::conditional_t<std::is_const_v<W>, const FloatSpan, FloatSpan>;
  std::string gguf_name;    // "blk.0.attn_qkv.weight"
  std::string hf_name;      // "h.0.attn.c_attn.weight"
  std::vector<int64_t> ne;  // ggml shape: matrices [in, out], wpe [n_embd, n_ctx], vectors [n]
  Matrix* matrix = nullptr;
  Span* span = nullptr;
};

// Returns every parameter of `w` (blocks sized to w.config.n_layer) in the
// order llama-quantize's GPT-2 files list them: output, output_norm,
// position_embd, token_embd, then each block's tensors by name.
template <typename W>
std::vector<GgufParam<W>> GgufParams(W& w);

// Returns the ggml type id that stores gpt2q format `format` with the same
// bytes ("fp32" → F32, "fp16" → F16, "q8_0" → Q8_0, ... "q6_k" → Q6_K), or
// nullopt for formats GGUF has no type for.
std::optional<uint32_t> GgmlTypeOfFormat(std::string_view format);
// Returns the gpt2q format name of ggml type id `type`, or nullopt.
std::optional<std::string_view> FormatOfGgmlType(uint32_t type);

// The tokenizer as GGUF stores it (tokenizer.ggml.*).
struct GgufVocab {
  std::vector<std::string> tokens;   // byte-level spellings, by id (vocab.json's keys)
  std::vector<int32_t> token_types;  // 1 normal, 3 control (<|endoftext|>)
  std::vector<std::string> merges;   // "left right", highest priority first
  int32_t bos_id = 50256, eos_id = 50256, unknown_id = 50256;

  // Returns vocab.json / merges.txt texts with the same content.
  std::string VocabJson() const;
  std::string MergesText() const;
};

// Reads tokenizer.ggml.* of `file`: model "gpt2", tokens, token types and
// merges (both optional), bos/eos/unknown ids; errors name the file and key.
Result<GgufVocab> ReadGgufVocab(const GgufFile& file);

// One tensor of a GGUF file, for `gpt2q info`.
struct GgufTensorSummary {
  std::string name;         // GGUF name
  std::string ggml_type;    // "q4_K"
  std::string format;       // the gpt2q format it loads as ("q4_k", "fp32")
  std::vector<int64_t> ne;  // ggml shape
  int64_t bytes = 0;
};

struct GgufCheckpoint {
  ModelWeights weights;
  GgufVocab vocab;
  std::string name;  // general.name, empty when absent
  int64_t file_type = -1;  // general.file_type, -1 when absent
  std::vector<GgufTensorSummary> tensors;
};

// Maps `path` and loads a GPT-2 from it: the config from gpt2.* metadata
// (n_vocab = the number of tokens), the tokenizer from tokenizer.ggml.*, and
// every tensor of the list above (output.weight may be absent: tied). Matrices
// of type F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K and Q6_K are used in
// place from the mapping as the gpt2q format of the same bytes; vectors F32 in
// place, F16 or block types converted. output.weight tied to token_embd when
// of the same type and bytes. NaN/Inf in F32/F16 tensors as LoadCheckpoint
// (options.allow_nonfinite). Errors name the file, the key or tensor and
// expected vs actual: architecture not gpt2, missing keys or tensors, unknown
// tensors, wrong shapes, types gpt2q has no format for.
Result<GgufCheckpoint> LoadGgufCheckpoint(const std::string& path, const LoadOptions& options = {},
                                          std::vector<NonFiniteTensor>* nonfinite = nullptr);

// As LoadGgufCheckpoint, from a GgufFile already open.
Result<GgufCheckpoint> LoadGgufCheckpoint(std::shared_ptr<const GgufFile> file,
                                          const LoadOptions& options = {},
                                          std::vector<NonFiniteTensor>* nonfinite = nullptr);

}  // namespace gpt2q
