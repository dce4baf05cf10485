// bf16 dot products in the lane structure of AVX512-BF16's vdpbf16ps, so the
// AVX2 emulation, the scalar reference and the instruction give the same bits.
//
// A row w and a token x, both bf16 [cols] (x zero-padded to whole steps):
//   steps of kBf16Step = 32 values; lane l (0..15) of step k takes the pair
//   (32k + 2l, 32k + 2l + 1) and does, as vdpbf16ps does,
//     acc_l = fma(w[32k + 2l + 1], x[32k + 2l + 1], acc_l)   (the odd value first)
//     acc_l = fma(w[32k + 2l],     x[32k + 2l],     acc_l)
//   (a bf16 product is exact in fp32, so each step rounds once, like the
//   instruction's fused add); then
//     s8[i] = acc[i] + acc[i + 8], s4[i] = s8[i] + s8[i + 4],
//     s2[i] = s4[i] + s4[i + 2],  y = s2[0] + s2[1].
// The instruction also treats subnormal inputs as zero and flushes subnormal
// results; the emulation does not, so the two could differ only where a
// value or partial sum is below 1.2e-38 in magnitude.
#pragma once

#include <cstdint>

namespace gpt2q {

inline constexpr int64_t kBf16Step = 32;

// cols rounded up to whole steps: the length of a packed activation row.
inline int64_t Bf16PaddedCols(int64_t cols) { return (cols + kBf16Step - 1) / kBf16Step * kBf16Step; }

// Rounds x [n, cols] to bf16 (nearest even; NaN stays NaN) into xb [n, Bf16PaddedCols(cols)],
// the padding zero.
void Bf16PackActivations(const float* x, int64_t n, int64_t cols, uint16_t* xb);

// y[t·ldy + r] = dot(row r of w, token t of xb) for r < rows, t < n: w bf16
// [rows, cols] row-major, xb from Bf16PackActivations. A result does not depend
// on rows, n or the kernel that ran (AVX512-BF16 when present, else AVX2).
void Bf16Tile(const uint16_t* w, int64_t cols, int64_t rows, const uint16_t* xb, int64_t n, float* y,
              int64_t ldy);

// The scalar reference: one row against one packed token.
float Bf16DotRef(const uint16_t* w, int64_t cols, const uint16_t* xb);

namespace internal {
void Bf16TileAvx2(const uint16_t* w, int64_t cols, int64_t rows, const uint16_t* xb, int64_t n, float* y,
                  int64_t ldy);
void Bf16TileAvx512(const uint16_t* w, int64_t cols, int64_t rows, const uint16_t* xb, int64_t n, float* y,
                    int64_t ldy);
bool HasAvx512Bf16();
}  // namespace internal

}  // namespace gpt2q
