// The cache-blocked loop nest shared by the SIMD int8 GEMM kernels: panels of
// NP×16 output rows, token blocks of kTokenBlock rows, K blocks of at most
// kKBlock values inside a group; int32 partial sums and fp32 group sums live
// in small stack tiles. Included only by x86/int8_gemm_*.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/int8_gemm.h"

namespace gpt2q::int8_detail {

inline constexpr int64_t kTokenBlock = 48;  // multiple of every MT; tiles stay in L1
inline constexpr int64_t kKBlock = 256;     // 64 rows × 256 codes = 16 KiB of weights

// Kernel(mt, np, x, ldx, w, wstride, kc, acc, init) must compute, for t < mt,
// p < np, r < 16: acc[t·64 + p·16 + r] (+)= Σ_{k<kc} x[t·ldx + k] · code(p, r, k)
// where the codes of panel p start at w + p·wstride; init means start from 0.
// Kernels that offset the codes (AVX2: signed u − 128) pass code_base.
template <int kMaxPanels, int kMaxTokens, typename Kernel>
void DrivePanels(const QuantizedActivations& a, const PackedInt8Weights& w, int64_t panel0,
                 int64_t n_panels, float* y, int64_t ldy, int32_t code_base, Kernel kernel) {
  static_assert(kTokenBlock % kMaxTokens == 0);
  alignas(64) int32_t iacc[kTokenBlock * 64];
  alignas(64) float facc[kTokenBlock * 64];
  const int64_t bytes_per_k = w.bits == 8 ? 16 : 8;  // per panel
  const int64_t panel_stride = w.n_groups * w.group * bytes_per_k;
  const float* sa = a.scale.as<float>();
  for (int64_t pb = panel0; pb < panel0 + n_panels; pb += kMaxPanels) {
    const int np = static_cast<int>(std::min<int64_t>(kMaxPanels, panel0 + n_panels - pb));
    for (int64_t t0 = 0; t0 < a.n; t0 += kTokenBlock) {
      const int64_t mb = std::min(kTokenBlock, a.n - t0);
      std::fill(facc, facc + mb * 64, 0.0f);
      for (int64_t g = 0; g < w.n_groups; ++g) {
        for (int64_t kk = 0; kk < w.group; kk += kKBlock) {
          const int64_t kc = std::min(kKBlock, w.group - kk);
          const uint8_t* wp = w.codes.data() + ((pb * w.n_groups + g) * w.group + kk) * bytes_per_k;
          for (int64_t ts = 0; ts < mb; ts += kMaxTokens) {
            const int mt = static_cast<int>(std::min<int64_t>(kMaxTokens, mb - ts));
            kernel(mt, np, a.Row(t0 + ts) + g * w.group + kk, a.kpad, wp, panel_stride, kc,
                   iacc + ts * 64, kk == 0);
          }
        }
        // Fold the group: facc = fma(float(Σ x·(u − offset)), step, facc).
        for (int p = 0; p < np; ++p) {
          const int32_t* off = w.offsets.as<int32_t>() + (pb + p) * 16;
          const float* step = w.steps.as<float>() + ((pb + p) * w.n_groups + g) * 16;
          for (int64_t t = 0; t < mb; ++t) {
            const int32_t xs = a.Sums(t0 + t)[g];
            int32_t* ia = iacc + t * 64 + p * 16;
            float* fa = facc + t * 64 + p * 16;
            for (int r = 0; r < 16; ++r) {
              // int64: an asymmetric row's offset may be far outside the code range.
              const int64_t s = static_cast<int64_t>(ia[r]) -
                                static_cast<int64_t>(off[r] - code_base) * xs;
              fa[r] = std::fma(static_cast<float>(s), step[r], fa[r]);
            }
          }
        }
      }
      const int64_t row0 = pb * 16;
      const int64_t row_end = std::min(w.rows, (pb + np) * 16);
      for (int64_t t = 0; t < mb; ++t) {
        const float s = sa[t0 + t];
        float* yt = y + (t0 + t) * ldy;
        const float* fa = facc + t * 64;
        for (int64_t j = row0; j < row_end; ++j) yt[j] = fa[j - row0] * s;
      }
    }
  }
}

// Calls f.template operator()<MT, NP>() for run-time mt in [1, kMaxT], np in [1, 4].
template <int kMaxT, int MT = 1, typename F>
inline void DispatchTile(int mt, int np, F&& f) {
  if constexpr (MT <= kMaxT) {
    if (mt == MT) {
      switch (np) {
        case 1: f.template operator()<MT, 1>(); return;
        case 2: f.template operator()<MT, 2>(); return;
        case 3: f.template operator()<MT, 3>(); return;
        default: f.template operator()<MT, 4>(); return;
      }
    }
    DispatchTile<kMaxT, MT + 1>(mt, np, f);
  }
}

}  // namespace gpt2q::int8_detail
