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

// The hot tile, 6 tokens × 4 panels, 8-bit, with its 24 accumulators as named
// variables: GCC 12 keeps Tile's accumulator array in memory (a store and a
// copy per dpbusd), which halves the kernel's speed. Same integer sums as Tile.
#define GPT2Q_EACH_ACC(X) \
  X(0, 0) X(0, 1) X(0, 2) X(0, 3) X(1, 0) X(1, 1) X(1, 2) X(1, 3) X(2, 0) X(2, 1) X(2, 2) X(2, 3) \
  X(3, 0) X(3, 1) X(3, 2) X(3, 3) X(4, 0) X(4, 1) X(4, 2) X(4, 3) X(5, 0) X(5, 1) X(5, 2) X(5, 3)
void Tile6x4(const int8_t* x, int64_t ldx, const uint8_t* w, int64_t wstride, int64_t kc, int32_t* acc,
             bool init) {
#define GPT2Q_INIT(t, p) \
  __m512i c##t##p = init ? _mm512_setzero_si512() : _mm512_load_si512(acc + (t) * 64 + (p) * 16);
  GPT2Q_EACH_ACC(GPT2Q_INIT)
#undef GPT2Q_INIT
  for (int64_t q = 0; q < kc / 4; ++q) {
    const __m512i w0 = _mm512_load_si512(w + q * 64), w1 = _mm512_load_si512(w + wstride + q * 64);
    const __m512i w2 = _mm512_load_si512(w + 2 * wstride + q * 64);
    const __m512i w3 = _mm512_load_si512(w + 3 * wstride + q * 64);
    const __m512i x0 = Broadcast4(x + 4 * q), x1 = Broadcast4(x + ldx + 4 * q);
    const __m512i x2 = Broadcast4(x + 2 * ldx + 4 * q), x3 = Broadcast4(x + 3 * ldx + 4 * q);
    const __m512i x4 = Broadcast4(x + 4 * ldx + 4 * q), x5 = Broadcast4(x + 5 * ldx + 4 * q);
#define GPT2Q_STEP(t, p) c##t##p = _mm512_dpbusd_epi32(c##t##p, w##p, x##t);
    GPT2Q_EACH_ACC(GPT2Q_STEP)
#undef GPT2Q_STEP
  }
#define GPT2Q_STORE(t, p) _mm512_store_si512(acc + (t) * 64 + (p) * 16, c##t##p);
  GPT2Q_EACH_ACC(GPT2Q_STORE)
#undef GPT2Q_STORE
}

// The same for 4-bit codes: per 8 input values, the low nibbles hold the first
// quad and the high nibbles the second.
void Tile6x4Nibbles(const int8_t* x, int64_t ldx, const uint8_t* w, int64_t wstride, int64_t kc,
                    int32_t* acc, bool init) {
#define GPT2Q_INIT(t, p) \
  __m512i c##t##p = init ? _mm512_setzero_si512() : _mm512_load_si512(acc + (t) * 64 + (p) * 16);
  GPT2Q_EACH_ACC(GPT2Q_INIT)
#undef GPT2Q_INIT
  const __m512i low = _mm512_set1_epi8(0x0f);
  for (int64_t q = 0; q < kc / 8; ++q) {
    __m512i lo0, lo1, lo2, lo3, hi0, hi1, hi2, hi3;
#define GPT2Q_UNPACK(p)                                                    \
  {                                                                        \
    const __m512i raw = _mm512_load_si512(w + (p) * wstride + q * 64);     \
    lo##p = _mm512_and_si512(raw, low);                                    \
    hi##p = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low);              \
  }
    GPT2Q_UNPACK(0) GPT2Q_UNPACK(1) GPT2Q_UNPACK(2) GPT2Q_UNPACK(3)
#undef GPT2Q_UNPACK
#define GPT2Q_STEP(t, p)                                                                      \
  c##t##p = _mm512_dpbusd_epi32(c##t##p, lo##p, Broadcast4(x + (t) * ldx + 8 * q));            \
  c##t##p = _mm512_dpbusd_epi32(c##t##p, hi##p, Broadcast4(x + (t) * ldx + 8 * q + 4));
    GPT2Q_EACH_ACC(GPT2Q_STEP)
#undef GPT2Q_STEP
  }
#define GPT2Q_STORE(t, p) _mm512_store_si512(acc + (t) * 64 + (p) * 16, c##t##p);
  GPT2Q_EACH_ACC(GPT2Q_STORE)
#undef GPT2Q_STORE
}
#undef GPT2Q_EACH_ACC

}  // namespace

void Int8GemmPanelsAvx512(const QuantizedActivations& a, const PackedInt8Weights& w,
                          int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  constexpr int kMaxT = 6;
  auto kernel = [&](int mt, int np, const int8_t* x, int64_t ldx, const uint8_t* wp,
                    int64_t wstride, int64_t kc, int32_t* acc, bool init) {
    int8_detail::DispatchTile<kMaxT>(mt, np, [&]<int MT, int NP>() {
      if (w.bits == 8 && MT == 6 && NP == 4) {
        Tile6x4(x, ldx, wp, wstride, kc, acc, init);
      } else if (MT == 6 && NP == 4) {
        Tile6x4Nibbles(x, ldx, wp, wstride, kc, acc, init);
      } else if (w.bits == 8) {
        Tile<MT, NP, 8>(x, ldx, wp, wstride, kc, acc, init);
      } else {
        Tile<MT, NP, 4>(x, ldx, wp, wstride, kc, acc, init);
      }
    });
  };
  int8_detail::DrivePanels<4, kMaxT>(a, w, panel0, n_panels, y, ldy, 0, kernel);
}

}  // namespace gpt2q
