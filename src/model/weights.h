// ModelWeights: every parameter of a GPT-2, as fp32 views and WeightMatrix
// objects, plus whatever owns their memory (a mapped file, aligned buffers).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "formats/weight_matrix.h"
#include "model/config.h"

namespace gpt2q {

// A non-owning view of `size` fp32 values.
struct FloatSpan {
  const float* data = nullptr;
  int64_t size = 0;
};

struct BlockWeights {
  FloatSpan ln_1_weight, ln_1_bias;
  std::shared_ptr<WeightMatrix> attn_c_attn;   // [3*n_embd, n_embd]
  FloatSpan attn_c_attn_bias;                  // [3*n_embd]
  std::shared_ptr<WeightMatrix> attn_c_proj;   // [n_embd, n_embd]
  FloatSpan attn_c_proj_bias;
  FloatSpan ln_2_weight, ln_2_bias;
  std::shared_ptr<WeightMatrix> mlp_c_fc;      // [n_inner, n_embd]
  FloatSpan mlp_c_fc_bias;
  std::shared_ptr<WeightMatrix> mlp_c_proj;    // [n_embd, n_inner]
  FloatSpan mlp_c_proj_bias;
  // Optional per-channel scale [n_inner] that divides the GELU output before
  // mlp.c_proj (llm-awq's ScaledActivation: GELU(x) / s); empty (data null) in every
  // ordinary checkpoint. Stored as the tensor "h.N.mlp.act_scale".
  FloatSpan mlp_act_scale;
};

struct ModelWeights {
  GPT2Config config;
  // Token embedding [n_vocab, n_embd]; its rows are read with DequantizeRow.
  std::shared_ptr<WeightMatrix> wte;
  FloatSpan wpe;  // [n_ctx, n_embd]
  std::vector<BlockWeights> blocks;
  FloatSpan ln_f_weight, ln_f_bias;
  // Output head [n_vocab, n_embd]; the same object as wte when tied.
  std::shared_ptr<WeightMatrix> lm_head;

  // Memory that the views above point into (mapped files, buffers).
  std::vector<std::shared_ptr<const void>> owners;

  bool head_tied() const { return lm_head == wte; }
};

// Kinds of parameters, for scopes and statistics.
enum class ParamKind { kLinear, kEmbedding, kHead, kBias, kLayerNorm, kPosition, kActScale };

// Calls `visit(name, kind, matrix)` for every WeightMatrix parameter, with
// Hugging Face's bare names ("h.0.attn.c_attn.weight", "wte.weight",
// "lm_head.weight" only when untied). `matrix` may be replaced by the visitor.
void ForEachMatrix(ModelWeights& weights,
                   const std::function<void(const std::string& name, ParamKind kind,
                                            std::shared_ptr<WeightMatrix>& matrix)>& visit);

// Calls `visit(name, kind, span)` for every fp32 vector parameter (biases,
// LayerNorms, wpe, and a block's mlp.act_scale only when it has one). `span`
// may be re-pointed (the visitor keeps the memory alive
// by adding it to weights.owners).
void ForEachVector(ModelWeights& weights,
                   const std::function<void(const std::string& name, ParamKind kind,
                                            FloatSpan& span)>& visit);

}  // namespace gpt2q
