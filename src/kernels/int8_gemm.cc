// Integer GEMM: packed-layout accessors, the scalar reference kernel, run-time
// ISA dispatch and the threaded driver (see int8_gemm.h for the layout).
#include "kernels/int8_gemm.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/blas.h"
#include "kernels/quantize_activations.h"

namespace gpt2q {

void PackedInt8Weights::Allocate(int64_t rows_in, int64_t cols_in, int64_t group_in, int bits_in,
                                 int32_t default_offset) {
  GPT2Q_CHECK(rows_in > 0 && cols_in > 0 && (bits_in == 8 || bits_in == 4));
  rows = rows_in;
  cols = cols_in;
  bits = bits_in;
  group = group_in > 0 ? group_in : (cols + 7) / 8 * 8;
  GPT2Q_CHECK(group % 8 == 0);
  n_groups = (cols + group - 1) / group;
  kpad = n_groups * group;
  rows_pad = (rows + kInt8PanelRows - 1) / kInt8PanelRows * kInt8PanelRows;
  codes = AlignedBuffer(static_cast<size_t>(rows_pad * kpad * bits / 8));
  steps = AlignedBuffer(static_cast<size_t>(rows_pad * n_groups) * sizeof(float));
  offsets = AlignedBuffer(static_cast<size_t>(rows_pad) * sizeof(int32_t));
  const uint8_t fill = bits == 8 ? static_cast<uint8_t>(default_offset)
                                 : static_cast<uint8_t>(default_offset * 0x11);
  std::fill(codes.data(), codes.data() + codes.size(), fill);
  std::fill(offsets.as<int32_t>(), offsets.as<int32_t>() + rows_pad, default_offset);
}

namespace {

// Returns the byte holding code (row, k) and, for 4 bits, the nibble shift.
inline int64_t CodeByte(const PackedInt8Weights& w, int64_t row, int64_t k, int* shift) {
  const int64_t p = row / 16, r = row % 16, g = k / w.group, kk = k % w.group;
  if (w.bits == 8) {
    *shift = 0;
    return ((p * w.n_groups + g) * w.group) * 16 + (kk / 4) * 64 + 4 * r + kk % 4;
  }
  *shift = ((kk / 4) % 2) * 4;
  return ((p * w.n_groups + g) * w.group) * 8 + (kk / 8) * 64 + 4 * r + kk % 4;
}

}  // namespace

void PackedInt8Weights::SetCode(int64_t row, int64_t k, uint8_t u) {
  int shift;
  uint8_t& byte = codes.data()[CodeByte(*this, row, k, &shift)];
  if (bits == 8) {
    byte = u;
  } else {
    byte = static_cast<uint8_t>((byte & ~(0x0f << shift)) | ((u & 0x0f) << shift));
  }
}

uint8_t PackedInt8Weights::Code(int64_t row, int64_t k) const {
  int shift;
  const uint8_t byte = codes.data()[CodeByte(*this, row, k, &shift)];
  return bits == 8 ? byte : static_cast<uint8_t>((byte >> shift) & 0x0f);
}

Int8Isa BestInt8Isa() {
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) {
    return Int8Isa::kAvx512Vnni;
  }
  if (__builtin_cpu_supports("avx2")) return Int8Isa::kAvx2;
  return Int8Isa::kScalar;
}

void Int8GemmPanelsRef(const QuantizedActivations& a, const PackedInt8Weights& w,
                       int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  const int64_t row_end = std::min(w.rows, (panel0 + n_panels) * 16);
  for (int64_t j = panel0 * 16; j < row_end; ++j) {
    for (int64_t t = 0; t < a.n; ++t) {
      const int8_t* x = a.Row(t);
      float facc = 0.0f;
      for (int64_t g = 0; g < w.n_groups; ++g) {
        int64_t s = 0;
        for (int64_t k = g * w.group; k < (g + 1) * w.group; ++k) {
          s += static_cast<int64_t>(x[k]) * (static_cast<int64_t>(w.Code(j, k)) - w.Offset(j));
        }
        facc = std::fma(static_cast<float>(s), w.Step(j, g), facc);
      }
      y[t * ldy + j] = facc * a.scale.as<float>()[t];
    }
  }
}

void Int8GemmPanels(Int8Isa isa, const QuantizedActivations& a, const PackedInt8Weights& w,
                    int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  GPT2Q_DCHECK(a.kpad == w.kpad && a.group == w.group);
  switch (isa) {
    case Int8Isa::kAvx512Vnni:
      Int8GemmPanelsAvx512(a, w, panel0, n_panels, y, ldy);
      return;
    case Int8Isa::kAvx2:
      Int8GemmPanelsAvx2(a, w, panel0, n_panels, y, ldy);
      return;
    case Int8Isa::kScalar:
      Int8GemmPanelsRef(a, w, panel0, n_panels, y, ldy);
      return;
  }
}

void Int8Multiply(const float* x, int64_t n, float* y, const PackedInt8Weights& w,
                  ThreadPool& pool, Int8Isa isa, const Int8ActQuant& act) {
  QuantizedActivations a;
  if (act.static_delta > 0.0f) {
    QuantizeActivationsStatic(x, n, w.cols, w.kpad, w.group, act.static_delta, &a);
  } else if (act.token_delta) {
    QuantizeActivationsDelta(x, n, w.cols, w.kpad, w.group, &a);
  } else {
    QuantizeActivations(x, n, w.cols, w.kpad, w.group, &a);
  }
  // Each row's result is computed by the same float sequence whatever chunk
  // it falls in; chunks only balance the work (shape-dependent, see blas.h).
  const int64_t chunk_panels = std::max<int64_t>(1, OutputChunk(n, w.rows) / 16);
  const int64_t n_panels = w.rows_pad / 16;
  const int64_t n_chunks = (n_panels + chunk_panels - 1) / chunk_panels;
  pool.ParallelFor(n_chunks, [&](int64_t c) {
    const int64_t p0 = c * chunk_panels;
    Int8GemmPanels(isa, a, w, p0, std::min(chunk_panels, n_panels - p0), y, w.rows);
  });
}

}  // namespace gpt2q
