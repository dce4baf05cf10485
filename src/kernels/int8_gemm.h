// Integer GEMM for 8- and 4-bit weights against int8 activations (W8A8):
// the packed weight layout, the scalar reference kernel and the dispatcher.
//
// Packed weight layout (PackedInt8Weights), chosen for AVX-512 VNNI:
//   rows are cut into panels of 16 output rows (rows_pad = rows rounded up to
//   16, padding rows are all code `offset`, i.e. value 0); the input dim is cut
//   into groups of `group` values (kpad = cols rounded up to `group`; padding
//   codes equal the row's offset). A panel stores, per group, per quad of 4
//   input values, 64 bytes: byte 4·r + e = code of (row 16·p + r, k = 4·quad + e).
//   8-bit: one unsigned code u per byte.  4-bit: two quads share 64 bytes, the
//   first quad in the low nibbles and the second in the high nibbles.
//   Value of code u for row j in group g: (u − offset[j]) · step[j][g].
//
// W8A8 product, for token t, row j:
//   y[t][j] = sa[t] · Σ_g step[j][g] · Σ_{k∈g} qx[t][k] · (u[j][k] − offset[j])
// where the inner sum is exact int32 and the outer sum is evaluated as
// facc = fma(float(int_sum), step, facc) in group order, then y = facc · sa[t].
// Every kernel (scalar, AVX2, AVX-512) follows that exact float sequence, so
// all of them give bit-identical results.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"

namespace gpt2q {

inline constexpr int64_t kInt8PanelRows = 16;  // one zmm of int32 accumulators

struct PackedInt8Weights {
  int64_t rows = 0, cols = 0;
  int64_t rows_pad = 0;  // rows rounded up to kInt8PanelRows
  int64_t group = 0;     // input values per group (multiple of 8)
  int64_t n_groups = 0;
  int64_t kpad = 0;      // n_groups · group
  int bits = 8;          // 8 or 4
  AlignedBuffer codes;   // rows_pad · kpad · bits / 8 bytes, layout above
  AlignedBuffer steps;   // float [rows_pad / 16][n_groups][16]
  AlignedBuffer offsets; // int32 [rows_pad]

  // Allocates the buffers for [rows, cols] in groups of `group` (cols when
  // group <= 0), filled with code `default_offset`, offsets = default_offset.
  void Allocate(int64_t rows, int64_t cols, int64_t group, int bits, int32_t default_offset);
  // Returns the bytes of codes + steps + offsets.
  int64_t Bytes() const { return codes.size() + steps.size() + offsets.size(); }

  // Code access (slow; for packing, dequantization and tests).
  void SetCode(int64_t row, int64_t k, uint8_t u);
  uint8_t Code(int64_t row, int64_t k) const;
  float& Step(int64_t row, int64_t g) {
    return steps.as<float>()[((row / 16) * n_groups + g) * 16 + row % 16];
  }
  float Step(int64_t row, int64_t g) const {
    return steps.as<float>()[((row / 16) * n_groups + g) * 16 + row % 16];
  }
  int32_t& Offset(int64_t row) { return offsets.as<int32_t>()[row]; }
  int32_t Offset(int64_t row) const { return offsets.as<int32_t>()[row]; }
};

// Activations quantized per token row: qx[t][k] = round(x·127/max|x_t|),
// sa[t] = max|x_t| / 127 (0 for an all-zero row), xsum[t][g] = Σ_{k∈g} qx[t][k].
struct QuantizedActivations {
  int64_t n = 0, kpad = 0, group = 0, n_groups = 0;
  AlignedBuffer q;     // int8 [n][kpad], zero beyond cols
  AlignedBuffer scale; // float [n]
  AlignedBuffer xsum;  // int32 [n][n_groups]
  const int8_t* Row(int64_t t) const { return q.as<int8_t>() + t * kpad; }
  const int32_t* Sums(int64_t t) const { return xsum.as<int32_t>() + t * n_groups; }
};

// Which kernel Int8GemmPanels runs.
enum class Int8Isa { kScalar, kAvx2, kAvx512Vnni };

// Returns the best kernel this CPU supports.
Int8Isa BestInt8Isa();

// Computes y[t][j] (row stride ldy) for every token t < a.n and every real row
// j in panels [panel0, panel0 + n_panels) with the chosen kernel.
void Int8GemmPanels(Int8Isa isa, const QuantizedActivations& a, const PackedInt8Weights& w,
                    int64_t panel0, int64_t n_panels, float* y, int64_t ldy);

// The ISA variants (x86/int8_gemm_avx2.cc, x86/int8_gemm_avx512.cc).
void Int8GemmPanelsRef(const QuantizedActivations& a, const PackedInt8Weights& w,
                       int64_t panel0, int64_t n_panels, float* y, int64_t ldy);
void Int8GemmPanelsAvx2(const QuantizedActivations& a, const PackedInt8Weights& w,
                        int64_t panel0, int64_t n_panels, float* y, int64_t ldy);
void Int8GemmPanelsAvx512(const QuantizedActivations& a, const PackedInt8Weights& w,
                          int64_t panel0, int64_t n_panels, float* y, int64_t ldy);

// How Int8Multiply turns activations into int8 codes.
struct Int8ActQuant {
  // > 0: one static step for every token (QuantizeActivationsStatic).
  float static_delta = 0.0f;
  // Per token (static_delta = 0): divide by Δ_t (QuantizeActivationsDelta,
  // SmoothQuant) instead of multiplying by 127/max (QuantizeActivations).
  bool token_delta = false;
};

// y[n, rows] = x[n, cols] · Wᵀ with activations quantized to int8 as `act`
// says. Output-row chunks depend on the shape only: identical for any thread
// count.
void Int8Multiply(const float* x, int64_t n, float* y, const PackedInt8Weights& w,
                  ThreadPool& pool, Int8Isa isa, const Int8ActQuant& act = {});

}  // namespace gpt2q
