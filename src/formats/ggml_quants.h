// ggml's reference quantizers and dequantizers, one row at a time, for the
// block formats gpt2q stores (q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q6_K) and for
// the 8-bit activation blocks the matmul uses. Bit-identical to ggml's
// quantize_row_*_ref (ggml-quants.c); k must be a multiple of the block size.
#pragma once

#include <cstdint>

#include "formats/ggml_blocks.h"

namespace gpt2q {

void QuantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t k);
void QuantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t k);
void QuantizeRowQ4_1(const float* x, BlockQ4_1* y, int64_t k);
void QuantizeRowQ5_0(const float* x, BlockQ5_0* y, int64_t k);
void QuantizeRowQ5_1(const float* x, BlockQ5_1* y, int64_t k);
void QuantizeRowQ4_K(const float* x, BlockQ4_K* y, int64_t k);
void QuantizeRowQ6_K(const float* x, BlockQ6_K* y, int64_t k);

void DequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t k);
void DequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t k);
void DequantizeRowQ4_1(const BlockQ4_1* x, float* y, int64_t k);
void DequantizeRowQ5_0(const BlockQ5_0* x, float* y, int64_t k);
void DequantizeRowQ5_1(const BlockQ5_1* x, float* y, int64_t k);
void DequantizeRowQ4_K(const BlockQ4_K* x, float* y, int64_t k);
void DequantizeRowQ6_K(const BlockQ6_K* x, float* y, int64_t k);

// Activations: one scale per 32 values (d = amax/127, q = round-half-even(a/d)),
// or per 256 values with 16-value sums for the K-quants.
void QuantizeActQ8(const float* x, ActQ8* y, int64_t k);
void QuantizeActQ8K(const float* x, ActQ8K* y, int64_t k);

}  // namespace gpt2q
