// SmoothQuant (mit-han-lab's smoothquant) on the calibration layer: the
// `smoothquant[:alpha=0.5,act=token|static]` method of the method table, and
// its unsmoothed baseline `w8a8[:act=token|static]`.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "quant/quant_spec.h"

namespace gpt2q {

// Returns the smoothing scales s_j = clamp(a_j^α / w_j^(1−α), 1e-5) with
// w_j = clamp(max_o |W[o, j]|, 1e-5) for W [rows = out, cols = in] (row-major)
// and a [cols] = max |x_j| over the calibration tokens, all in fp32.
std::vector<float> SmoothingScales(const float* act_max, const float* w, int64_t rows, int64_t cols,
                                   float alpha);

// For each block in order: (1) on the model as smoothed so far, the maxima
// a_j of |ln_1 output| and |ln_2 output| over every calibration token;
// (2) s folded into ln_1 → attn.c_attn and ln_2 → mlp.c_fc (γ, β ÷ s; the
// linear's input channels × s) for each of the two the scope selects;
// (3) the smoothed fp32 block run again — its outputs are the next block's
// inputs, and with act=static each selected linear's input max |x| gives its
// step Δ = clamp(max, 1e-5)/127; (4) every selected linear of the block
// quantized to int8-row with w8a8=1 (per-output-channel weights; activations
// per token, or static with act_delta = Δ). The c_proj layers are not smoothed.
// Method "w8a8" is the same without steps (1)–(2) (the unsmoothed baseline;
// with act=token it needs no calibration run at all).
Status CalibrateSmoothQuant(const CalibrateArgs& args, QuantizeReport* report);

}  // namespace gpt2q
