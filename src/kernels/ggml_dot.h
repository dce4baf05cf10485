// Dot products of one ggml weight row with one row of 8-bit activation blocks,
// as ggml's vec_dot: integer sums per block, scaled and summed in fp32.
#pragma once

#include <cstdint>

#include "formats/ggml_blocks.h"

namespace gpt2q {

// w: nb weight blocks of `type`; act: the activations quantized to ActQ8 (32-value
// formats, nb blocks) or ActQ8K (K-quants, nb blocks). Returns Σ w·a.
using GgmlVecDot = float (*)(const void* w, const void* act, int64_t nb);

// Returns the scalar reference dot product of `type` (the matmul uses GgmlTile).
GgmlVecDot GgmlVecDotRef(GgmlType type);

// Returns true when `type` multiplies against ActQ8K rather than ActQ8.
inline bool GgmlUsesQ8K(GgmlType type) { return type == GgmlType::kQ4_K || type == GgmlType::kQ6_K; }

// y[t·ldy + r] = row r · act row t for r < rows, t < n: `rows` weight rows of
// row_bytes each (nb blocks) starting at w; n activation rows of act_stride bytes.
// Each result is computed the same way whatever the tile it falls in, and the
// VNNI and AVX2 kernels give identical results.
void GgmlTile(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t nb, int64_t rows,
              const uint8_t* act, int64_t act_stride, int64_t n, float* y, int64_t ldy);

namespace internal {
void GgmlTileAvx2(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t nb, int64_t rows,
                  const uint8_t* act, int64_t act_stride, int64_t n, float* y, int64_t ldy);
void GgmlTileVnni(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t nb, int64_t rows,
                  const uint8_t* act, int64_t act_stride, int64_t n, float* y, int64_t ldy);
// Returns true when the CPU has AVX512-VL and AVX512-VNNI (checked once).
bool HasAvx512Vnni();
}  // namespace internal

}  // namespace gpt2q
