// AVX-512 VNNI int8 GEMM micro-kernels: vpdpbusd(unsigned weight codes,
// signed activations), 6 tokens × 4 panels (64 rows) of int32 accumulators.
#include <immintrin.h>

#include <cstring>

#include "kernels/int8_gemm.h"
#include "kernels/x86/int8_gemm_driver.h"

namespace gpt2q {
namespace {

inline __m512i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <int MT, int NP, int kBits>
void Tile(const int8_t* x, int64_t ldx, const uint8_t* w, int64_t wstride, int64_t kc,
          int32_t* acc, bool init) {
  __m512i c[MT][NP];
  for (int t = 0; t < MT; ++t) {
    for (int p = 0; p < NP; ++p) {
      c[t][p] = init ? _mm512_setzero_si512() : _mm512_load_si512(acc + t * 64 + p * 16);
    }
  }
  if constexpr (kBits == 8) {
    for (int64_t q = 0; q < kc / 4; ++q) {
      __m512i wv[NP];
      for (int p = 0; p < NP; ++p) wv[p] = _mm512_load_si512(w + p * wstride + q * 64);
      for (int t = 0; t < MT; ++t) {
        const __m512i xb = Broadcast4(x + t * ldx + 4 * q);
        for (int p = 0; p < NP; ++p) c[t][p] = _mm512_dpbusd_epi32(c[t][p], wv[p], xb);
      }
    }
  } else {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int64_t q = 0; q < kc / 8; ++q) {
      for (int p = 0; p < NP; ++p) {
        const __m512i raw = _mm512_load_si512(w + p * wstride + q * 64);
        const __m512i lo = _mm512_and_si512(raw, low);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low);
        for (int t = 0; t < MT; ++t) {
          c[t][p] = _mm512_dpbusd_epi32(c[t][p], lo, Broadcast4(x + t * ldx + 8 * q));
          c[t][p] = _mm512_dpbusd_epi32(c[t][p], hi, Broadcast4(x + t * ldx + 8 * q + 4));
        }
      }
    }
  }
  for (int t = 0; t < MT; ++t) {
    for (int p = 0; p < NP; ++p) _mm512_store_si512(acc + t * 64 + p * 16, c[t][p]);
  }
}

}  // namespace

void Int8GemmPanelsAvx512(const QuantizedActivations& a, const PackedInt8Weights& w,
                          int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  constexpr int kMaxT = 6;
  auto kernel = [&](int mt, int np, const int8_t* x, int64_t ldx, const uint8_t* wp,
                    int64_t wstride, int64_t kc, int32_t* acc, bool init) {
    int8_detail::DispatchTile<kMaxT>(mt, np, [&]<int MT, int NP>() {
      if (w.bits == 8) {
        Tile<MT, NP, 8>(x, ldx, wp, wstride, kc, acc, init);
      } else {
        Tile<MT, NP, 4>(x, ldx, wp, wstride, kc, acc, init);
      }
    });
  };
  int8_detail::DrivePanels<4, kMaxT>(a, w, panel0, n_panels, y, ldy, 0, kernel);
}

}  // namespace gpt2q
