// Row-wise kernels of the transformer block: LayerNorm, GELU, softmax, bias and
// residual adds. Shapes: x is (N, C) row-major. A scalar reference of each sits
// beside the SIMD version for tests.
#pragma once

#include <cstdint>

namespace gpt2q {

// out[r,:] = (x[r,:] − mean) / sqrt(var + eps) · gamma + beta for each of n rows
// of c values (biased variance, as torch.nn.LayerNorm). out may equal x.
void LayerNorm(const float* x, int64_t n, int64_t c, const float* gamma, const float* beta,
               float eps, float* out);
void LayerNormRef(const float* x, int64_t n, int64_t c, const float* gamma, const float* beta,
                  float eps, float* out);

// x = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) in place (GPT-2's gelu_new).
void GeluTanh(float* x, int64_t count);
void GeluTanhRef(float* x, int64_t count);

// Softmax of one row of `count` values in place; −inf entries get probability 0.
void SoftmaxRow(float* x, int64_t count);
void SoftmaxRowRef(float* x, int64_t count);

// y[r,:] += bias for each of n rows of c values.
void AddBias(float* y, int64_t n, int64_t c, const float* bias);

// x[r,:] += y[r,:] + bias for each of n rows of c values (the residual add).
void AddResidual(float* x, const float* y, int64_t n, int64_t c, const float* bias);

}  // namespace gpt2q
