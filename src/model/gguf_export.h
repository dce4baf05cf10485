// Writing a GPT-2 as a GGUF file that llama.cpp runs: the tensor names, shapes
// and metadata of llama.cpp's GPT-2 converter (model/gguf_checkpoint.h), each
// matrix in the ggml type that holds its gpt2q format's bytes unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "model/gguf_checkpoint.h"
#include "model/weights.h"

namespace gpt2q {

// Reads `dir`/vocab.json and `dir`/merges.txt as GGUF's tokenizer arrays:
// tokens by id, "<|endoftext|>" (and any other "<|...|>" spelling) CONTROL,
// the rest NORMAL, bos = eos = unknown = the id of "<|endoftext|>". Errors
// name the file and what is wrong (ids not 0..N-1, no "<|endoftext|>").
Result<GgufVocab> ReadHfVocab(const std::string& dir);

// Returns llama.cpp's general.file_type (enum llama_ftype) for the matrices of
// `weights`: that of the most compressed type among them, K-quants first
// (q4_0 2, q4_1 3, q4_k 14 = MOSTLY_Q4_K_S, q5_0 8, q5_1 9, q6_k 18, q8_0 7,
// fp16 1, all fp32 0), so that a file whose K-quant tensors fell back to
// legacy types on short rows still says Q4_K_S, as llama-quantize's do.
int64_t GgufFileType(const ModelWeights& weights);

// Returns an error naming the first matrix whose format GGUF has no type for
// (e.g. "nf4", "int8-row"), listing the formats it has, or the AWQ GELU scale
// (h.N.mlp.act_scale), which llama.cpp's GPT-2 has no tensor for; `path`
// names the output in the message.
Status CheckGgufExportable(const ModelWeights& weights, const std::string& path);

// Writes `weights` as a GGUF v3 file at `path` (created or replaced; callers
// stage it, io/staged_output.h): general.architecture "gpt2", general.name
// `name`, gpt2.block_count, context_length, embedding_length,
// feed_forward_length, attention.head_count, attention.layer_norm_epsilon,
// the tokenizer (model "gpt2", pre "gpt-2", tokens, token_type, merges,
// bos/eos/unknown ids, add_bos_token false), general.quantization_version 2
// and general.file_type (GgufFileType), in the order llama-quantize writes
// them; then every tensor of GgufParams: matrices [out, in] in their own
// bytes (fp32 Conv1D weights transposed), vectors F32, the head written as
// output.weight even when tied. Fails as CheckGgufExportable, or on I/O.
Status SaveGguf(const ModelWeights& weights, const GgufVocab& vocab, const std::string& name,
                const std::string& path);

}  // namespace gpt2q
