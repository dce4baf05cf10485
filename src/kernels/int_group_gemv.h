// Weight-only multiplication for the int-group format (2/3/4/8-bit unsigned
// codes, one scale and zero-point per (row, group)): the packed layout, the
// fused dequantize-and-multiply for few tokens (decode) and the dequantized
// tiles that feed SGEMM for many (prefill).
//
// Packed layout (IntGroupPacked), rows = out_features, k = input column:
//   Rows are cut into panels of 16 (rows_pad = rows rounded up to 16; padding
//   rows have scale 0 and zero-point 0). A row's codes are 32-bit words, and
//   a panel stores word w of its 16 rows together: codes[(p·words + w)·16 + r]
//   for row 16·p + r, so one 64-byte load gives one word of every row.
//   Groups of `group` columns (the last one shorter when group does not divide
//   cols) are padded to whole units of U codes; group g's words start at word
//   g·group_pad·bits/32. Within a unit, code i (i < U) sits at:
//     bits 2 (U = 16), 4 (U = 8), 8 (U = 4): one word, bits [bits·i, bits·i + bits).
//     bits 3 (U = 32, three words w0 w1 w2): i < 30: word i/10, bits [3·(i%10), +3);
//       i = 30: low two bits in w0 bits 30–31, high bit in w2 bit 30;
//       i = 31: low two bits in w1 bits 30–31, high bit in w2 bit 31.
//     So every code unpacks with shifts and a mask (3-bit codes 30, 31: two).
//   Padding codes (past a group's end) equal the row's zero-point: value 0.
//   scales: fp16 [rows_pad/16][n_groups][16]; zeros: uint8 [rows_pad/16][n_groups][16].
//   Value of (row j, column k in group g): fp32(scale[j][g]) · float(q − zero[j][g]).
//
// Float sequence of the fused product, for one token x and row j (the scalar
// reference, AVX2 and AVX-512 kernels all follow it, so they agree bit for
// bit, and a token's result does not depend on the tokens sharing the call):
//   out = 0
//   for each group g:
//     a[0..3] = 0
//     for i in 0 .. group_pad(g) − 1 (the padded positions included, with x = 0):
//       a[i % 4] = fma(x[g, i], float(q[j][g, i] − zero[j][g]), a[i % 4])
//     out = fma((a[0] + a[1]) + (a[2] + a[3]), scale[j][g], out)
//   y[j] = out
// q − zero is an exact small integer, so every product is exactly rounded.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/half.h"
#include "core/thread_pool.h"

namespace gpt2q {

inline constexpr int64_t kIntGroupPanelRows = 16;
// Tokens up to this many take the fused kernel; more go through tiles + SGEMM.
inline constexpr int64_t kIntGroupGemvMaxTokens = 8;

// Returns the codes per packing unit for `bits` (2, 3, 4 or 8): 16, 32, 8, 4.
int64_t IntGroupUnitCodes(int bits);

struct IntGroupPacked {
  int64_t rows = 0, cols = 0, rows_pad = 0;
  int bits = 4;
  int64_t group = 0;      // columns per group, 1..cols; the last group may be shorter
  int64_t n_groups = 0;
  int64_t group_pad = 0;  // a full group's positions, padded to whole units
  int64_t last_pad = 0;   // the last group's positions, padded
  int64_t kpad = 0;       // (n_groups − 1)·group_pad + last_pad: activations per token
  int64_t words = 0;      // 32-bit words per row: kpad·bits/32
  AlignedBuffer codes;    // uint32 [rows_pad/16][words][16]
  AlignedBuffer scales;   // fp16 [rows_pad/16][n_groups][16]
  AlignedBuffer zeros;    // uint8 [rows_pad/16][n_groups][16]

  // Sets the shape fields for [rows, cols] in groups of `group` (1..cols),
  // bits 2, 3, 4 or 8; allocates nothing.
  void SetShape(int64_t rows, int64_t cols, int bits, int64_t group);
  // SetShape, then zeroed buffers.
  void Allocate(int64_t rows, int64_t cols, int bits, int64_t group);
  // Returns codes + scales + zeros bytes (padding included).
  int64_t Bytes() const { return codes.size() + scales.size() + zeros.size(); }
  int64_t n_panels() const { return rows_pad / kIntGroupPanelRows; }
  int64_t GroupLength(int64_t g) const { return g + 1 < n_groups ? group : cols - g * group; }
  int64_t GroupPadded(int64_t g) const { return g + 1 < n_groups ? group_pad : last_pad; }
  // True when no group needs padding: the activations are used as they are.
  bool Unpadded() const { return kpad == cols; }

  // Writes / reads the GroupPadded(g) codes of (row, g), position by position
  // (codes < 2^bits; padding positions included).
  void SetGroupCodes(int64_t row, int64_t g, const uint8_t* q);
  void GroupCodes(int64_t row, int64_t g, uint8_t* q) const;
  // Returns the code at position i of group g (0 ≤ i < GroupPadded(g)),
  // located independently of the two above (slow; the scalar references use it).
  uint32_t Code(int64_t row, int64_t g, int64_t i) const;
  uint16_t& ScaleBits(int64_t row, int64_t g) {
    return scales.as<uint16_t>()[((row / 16) * n_groups + g) * 16 + row % 16];
  }
  uint16_t ScaleBits(int64_t row, int64_t g) const {
    return scales.as<uint16_t>()[((row / 16) * n_groups + g) * 16 + row % 16];
  }
  float Scale(int64_t row, int64_t g) const { return Fp16ToFloat(ScaleBits(row, g)); }
  uint8_t& Zero(int64_t row, int64_t g) { return zeros.data()[((row / 16) * n_groups + g) * 16 + row % 16]; }
  uint8_t Zero(int64_t row, int64_t g) const {
    return zeros.data()[((row / 16) * n_groups + g) * 16 + row % 16];
  }
};

// Which kernel runs the fused product.
enum class IntGroupIsa { kScalar, kAvx2, kAvx512 };

// Returns the best kernel this CPU supports (AVX-512F/BW/VL when present, else AVX2).
IntGroupIsa BestIntGroupIsa();

// Writes x [n, cols] (row stride cols) as padded activations xp [n, kpad]:
// group g's values at g·group_pad, zeros in its padding.
void IntGroupPadActivations(const IntGroupPacked& w, const float* x, int64_t n, float* xp);

// Computes y[t·ldy + j] for tokens t < n (padded activations xp, row stride
// ldx) and every real row j of panels [panel0, panel0 + n_panels), following
// the float sequence above.
void IntGroupGemvPanelsRef(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t n,
                           int64_t panel0, int64_t n_panels, float* y, int64_t ldy);
void IntGroupGemvPanelsAvx2(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t n,
                            int64_t panel0, int64_t n_panels, float* y, int64_t ldy);
void IntGroupGemvPanelsAvx512(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t n,
                              int64_t panel0, int64_t n_panels, float* y, int64_t ldy);
void IntGroupGemvPanels(IntGroupIsa isa, const IntGroupPacked& w, const float* xp, int64_t ldx,
                        int64_t n, int64_t panel0, int64_t n_panels, float* y, int64_t ldy);

// Writes the dequantized W of panels [panel0, panel0 + n_panels) transposed:
// tile[k·ld + 16·(p − panel0) + r] = value of (row 16·p + r, column k), for
// every real column k (padding rows give 0). ld ≥ 16·n_panels.
void IntGroupDequantizePanelsT(const IntGroupPacked& w, int64_t panel0, int64_t n_panels, float* tile,
                               int64_t ld);
void IntGroupDequantizePanelsTRef(const IntGroupPacked& w, int64_t panel0, int64_t n_panels,
                                  float* tile, int64_t ld);
void IntGroupDequantizePanelsTAvx2(const IntGroupPacked& w, int64_t panel0, int64_t n_panels,
                                   float* tile, int64_t ld);

// y[n, rows] = x[n, cols] · Wᵀ. n ≤ kIntGroupGemvMaxTokens: the fused kernel
// `isa`, token rows independent of each other. Larger n: dequantized tiles of
// OutputChunk(n, rows) rows multiplied with SGEMM. Chunks depend on the shape
// only, so the result does not depend on the pool's thread count.
void IntGroupMultiply(const IntGroupPacked& w, const float* x, int64_t n, float* y, ThreadPool& pool,
                      IntGroupIsa isa);

}  // namespace gpt2q
