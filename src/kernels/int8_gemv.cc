// Weight-only int8 / int4 GEMV: the scalar reference, ISA dispatch and the
// threaded driver (see int8_gemv.h for the float sequence).
#include "kernels/int8_gemv.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/scratch_buffer.h"
#include "kernels/blas.h"

namespace gpt2q {

void Int8GemvPanelsRef(const float* x, const PackedInt8Weights& w, int64_t panel0, int64_t n_panels,
                       float* y) {
  const int64_t row_end = std::min(w.rows, (panel0 + n_panels) * kInt8PanelRows);
  for (int64_t j = panel0 * kInt8PanelRows; j < row_end; ++j) {
    const int32_t offset = w.Offset(j);
    float out = 0.0f;
    for (int64_t g = 0; g < w.n_groups; ++g) {
      float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      for (int64_t k = g * w.group; k < (g + 1) * w.group; ++k) {
        const float code = static_cast<float>(static_cast<int32_t>(w.Code(j, k)) - offset);
        a[k % 4] = std::fma(x[k], code, a[k % 4]);
      }
      out = std::fma((a[0] + a[1]) + (a[2] + a[3]), w.Step(j, g), out);
    }
    y[j] = out;
  }
}

void Int8GemvPanels(Int8Isa isa, const float* x, const PackedInt8Weights& w, int64_t panel0, int64_t n_panels,
                    float* y) {
  switch (isa) {
    case Int8Isa::kAvx512Vnni:
      Int8GemvPanelsAvx512(x, w, panel0, n_panels, y);
      return;
    case Int8Isa::kAvx2:
      Int8GemvPanelsAvx2(x, w, panel0, n_panels, y);
      return;
    case Int8Isa::kScalar:
      Int8GemvPanelsRef(x, w, panel0, n_panels, y);
      return;
  }
}

void Int8WeightOnlyGemv(const float* x, int64_t n, float* y, const PackedInt8Weights& w, ThreadPool& pool,
                        Int8Isa isa) {
  GPT2Q_CHECK(n >= 1 && n <= kInt8GemvMaxTokens);
  // The kernels read kpad values per token: pad x with zeros (the padding
  // codes are the offset, worth 0, but 0 · garbage could be NaN).
  thread_local ScratchBuffer padded;  // reused across calls, tracked
  float* xp = padded.Get<float>(n * w.kpad);
  for (int64_t t = 0; t < n; ++t) {
    std::memcpy(xp + t * w.kpad, x + t * w.cols, static_cast<size_t>(w.cols) * sizeof(float));
    std::fill(xp + t * w.kpad + w.cols, xp + (t + 1) * w.kpad, 0.0f);
  }
  const int64_t chunk_panels = std::max<int64_t>(1, OutputChunk(n, w.rows) / kInt8PanelRows);
  const int64_t n_panels = w.rows_pad / kInt8PanelRows;
  const int64_t n_chunks = (n_panels + chunk_panels - 1) / chunk_panels;
  pool.ParallelFor(n_chunks, [&](int64_t c) {
    const int64_t p0 = c * chunk_panels, np = std::min(chunk_panels, n_panels - p0);
    // Token after token over the same few panels: their codes stay in cache.
    for (int64_t t = 0; t < n; ++t) Int8GemvPanels(isa, xp + t * w.kpad, w, p0, np, y + t * w.rows);
  });
}

}  // namespace gpt2q
