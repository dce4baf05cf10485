// Per-channel scales folded into a GPT-2's weights: the moves SmoothQuant and
// AWQ make. Each keeps the model's function (up to fp32 rounding) when its
// counterpart is applied too (e.g. ln_1 ÷ s with c_attn's inputs × s).
//
// Every function replaces what it touches by fp32 copies it owns (kept alive
// through weights.owners or the new matrix): the model's original memory (a
// mapped file) is never written. A quantized matrix is dequantized first.
#pragma once

#include <cstdint>
#include <memory>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/weights.h"

namespace gpt2q {

// γ_j /= s_j, β_j /= s_j (division, as the reference implementations do) for
// j < gamma.size; s has gamma.size values, gamma and beta the same size.
void DivideLayerNorm(ModelWeights& weights, FloatSpan& gamma, FloatSpan& beta, const float* s);

// W[o, j] *= s_j: the linear's input channel j (GPT-2's Conv1D input row j);
// s has m->cols() values. The result is an fp32 matrix ([out, in]).
void MultiplyInputs(std::shared_ptr<WeightMatrix>& m, const float* s, ThreadPool& pool);

// W[o, j] /= s_j (undoing MultiplyInputs, or folding a GELU scale after
// quantization); s has m->cols() values.
void DivideInputs(std::shared_ptr<WeightMatrix>& m, const float* s, ThreadPool& pool);

// W[first + k, :] /= s_k and bias[first + k] /= s_k for k < count: output
// channels (GPT-2's Conv1D output columns), e.g. c_attn's V columns.
void DivideOutputs(ModelWeights& weights, std::shared_ptr<WeightMatrix>& m, FloatSpan& bias, int64_t first,
                   int64_t count, const float* s, ThreadPool& pool);

// Gives block `b` the GELU-output divisor s [n_inner] (llm-awq's
// ScaledActivation: GELU(x) / s), combined with one it already has.
void DivideGeluOutput(ModelWeights& weights, BlockWeights& b, const float* s);

// Folds block `b`'s GELU divisor into mlp.c_proj (W[:, j] /= s_j, after
// whatever quantization c_proj has: it becomes fp32) and removes the vector.
// Simulate mode uses this so that no vector is left; a no-op without one.
void FoldGeluScale(BlockWeights& b, ThreadPool& pool);

}  // namespace gpt2q
