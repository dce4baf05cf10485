// Memory accounting over ForEachMatrix / ForEachVector.
#include "quant/memory.h"

#include "core/check.h"
#include "formats/format.h"

namespace gpt2q {
namespace {

// Bits per weight as transformers counts a quantized Conv1D's storage: the
// format table row's fact about this matrix.
double HfCodeBits(const WeightMatrix& m) {
  Result<const FormatTraits*> format = FindFormat(m.format());
  GPT2Q_CHECK(format.ok() && "every matrix's format() is a format table row");
  return format.value()->hf_code_bits(m);
}

// ForEachMatrix/ForEachVector take a mutable model so that quantizers can swap
// tensors; these visitors only read.
ModelWeights& Mutable(const ModelWeights& w) { return const_cast<ModelWeights&>(w); }

}  // namespace

int64_t HfFootprintBytes(const ModelWeights& weights) {
  bool any_quantized = false;
  double linear_bytes = 0;
  int64_t other_params = 0;
  ForEachMatrix(Mutable(weights), [&](const std::string&, ParamKind kind, std::shared_ptr<WeightMatrix>& m) {
    const int64_t n = m->rows() * m->cols();
    any_quantized |= m->format() != "fp32";
    if (kind == ParamKind::kLinear) {
      linear_bytes += n * HfCodeBits(*m) / 8.0;
    } else {
      other_params += n;
    }
  });
  int64_t linear_fp32_params = 0;
  ForEachMatrix(Mutable(weights), [&](const std::string&, ParamKind kind, std::shared_ptr<WeightMatrix>& m) {
    if (kind == ParamKind::kLinear && m->format() == "fp32") linear_fp32_params += m->rows() * m->cols();
  });
  ForEachVector(Mutable(weights), [&](const std::string&, ParamKind, FloatSpan& s) { other_params += s.size; });
  const int64_t rest_bytes = any_quantized ? 2 : 4;
  // fp32 linears left out of a quantized load are held in the load dtype too.
  linear_bytes += linear_fp32_params * (rest_bytes - 4.0);
  const GPT2Config& c = weights.config;
  const int64_t buffers = c.n_layer * (c.n_ctx * c.n_ctx + rest_bytes);
  return static_cast<int64_t>(linear_bytes) + other_params * rest_bytes + buffers;
}

ModelMemory ComputeMemory(const ModelWeights& weights) {
  ModelMemory mem;
  ForEachMatrix(Mutable(weights), [&](const std::string&, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    mem.weights_bytes += m->StoredBytes();
  });
  ForEachVector(Mutable(weights), [&](const std::string&, ParamKind, FloatSpan& s) {
    mem.weights_bytes += s.size * 4;
  });
  mem.fp32_bytes = weights.config.ParameterCount() * 4;
  mem.hf_footprint_bytes = HfFootprintBytes(weights);
  return mem;
}

double DecodeReadBytes(const ModelWeights& weights, double context) {
  const GPT2Config& c = weights.config;
  double bytes = 0;
  ForEachMatrix(Mutable(weights), [&](const std::string&, ParamKind kind, std::shared_ptr<WeightMatrix>& m) {
    // An untied embedding gives one row per token; the head (the embedding
    // itself when tied) and every linear are read whole.
    const bool one_row = kind == ParamKind::kEmbedding && !weights.head_tied();
    bytes += one_row ? double(m->StoredBytes()) / double(m->rows()) : double(m->StoredBytes());
  });
  ForEachVector(Mutable(weights), [&](const std::string&, ParamKind kind, FloatSpan& s) {
    bytes += kind == ParamKind::kPosition ? double(c.n_embd) * 4 : double(s.size) * 4;
  });
  return bytes + 2.0 * double(c.n_layer) * context * double(c.n_embd) * 4;  // K and V so far
}

}  // namespace gpt2q
