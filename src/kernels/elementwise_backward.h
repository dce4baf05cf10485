// Backward passes of the row-wise kernels of kernels/elementwise.h: LayerNorm,
// tanh-GELU and the residual add, for training (ZeroQuant's layer-by-layer
// distillation). Plain scalar C++ over n rows of c values (x is (N, C)
// row-major); callers split rows into fixed chunks across threads, as the
// forward pass does, and a row's result never depends on other rows.
#pragma once

#include <cstdint>

namespace gpt2q {

// For out = LayerNorm(x)·gamma + beta (kernels/elementwise.h): adds the input
// gradient dL/dx to dx [N, C] given dout = dL/dout [N, C]. Mean and 1/std are
// recomputed from x (in double, the forward's biased variance and `eps`):
//   x̂ = (x − μ)·rstd, g = dout·gamma,
//   dx += rstd·(g − mean(g) − x̂·mean(g·x̂)).
// gamma and beta are not trained here, so their gradients are not computed.
void LayerNormBackward(const float* dout, const float* x, int64_t n, int64_t c, const float* gamma, float eps,
                       float* dx);

// For g = GeluTanh(h) (GPT-2's gelu_new): dh[i] = dg[i]·GELU'(h[i]) for
// `count` values, with u = √(2/π)(h + 0.044715h³):
//   GELU'(h) = ½(1 + tanh u) + ½h(1 − tanh²u)·√(2/π)(1 + 3·0.044715h²).
// dh may equal dg (in place).
void GeluTanhBackward(const float* h, const float* dg, int64_t count, float* dh);

// The residual add x_out = x_in + y: its backward sends dL/dx_out unchanged to
// both branches; this accumulates one branch's gradient into the other's:
// dst[i] += src[i] for `count` values.
void AccumulateGradient(float* dst, const float* src, int64_t count);

}  // namespace gpt2q
