// AVX2 int8 GEMM micro-kernels: maddubs/madd with the sign trick
// (|w| as unsigned × sign(x, w)), so no int16 saturation; 4 tokens × 1 panel.
#include <immintrin.h>

#include <cstring>

#include "kernels/int8_gemm.h"
#include "kernels/x86/int8_gemm_driver.h"

namespace gpt2q {
namespace {

inline __m256i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Returns the int32 sums of 4 products per lane of signed w and signed x,
// where x is never −128: |w| ≤ 128 times |x| ≤ 127, twice, fits in int16.
inline __m256i DotSigned(__m256i w, __m256i x) {
  const __m256i prod = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(prod, _mm256_set1_epi16(1));
}

// Unsigned 4-bit codes (≤ 15) times signed x: no saturation either.
inline __m256i DotUnsigned(__m256i u, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
}

// Codes are accumulated as u − 128 for 8 bits (base 128) and as u for 4 bits.
template <int MT, int NP, int kBits>
void Tile(const int8_t* x, int64_t ldx, const uint8_t* w, int64_t wstride, int64_t kc,
          int32_t* acc, bool init) {
  __m256i c[MT][NP][2];
  for (int t = 0; t < MT; ++t) {
    for (int p = 0; p < NP; ++p) {
      for (int h = 0; h < 2; ++h) {
        c[t][p][h] = init ? _mm256_setzero_si256()
                          : _mm256_load_si256(reinterpret_cast<const __m256i*>(acc + t * 64 + p * 16 + h * 8));
      }
    }
  }
  if constexpr (kBits == 8) {
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int64_t q = 0; q < kc / 4; ++q) {
      for (int p = 0; p < NP; ++p) {
        const uint8_t* wq = w + p * wstride + q * 64;
        const __m256i w0 = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(wq)), flip);
        const __m256i w1 = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(wq + 32)), flip);
        for (int t = 0; t < MT; ++t) {
          const __m256i xb = Broadcast4(x + t * ldx + 4 * q);
          c[t][p][0] = _mm256_add_epi32(c[t][p][0], DotSigned(w0, xb));
          c[t][p][1] = _mm256_add_epi32(c[t][p][1], DotSigned(w1, xb));
        }
      }
    }
  } else {
    const __m256i low = _mm256_set1_epi8(0x0f);
    for (int64_t q = 0; q < kc / 8; ++q) {
      for (int p = 0; p < NP; ++p) {
        const uint8_t* wq = w + p * wstride + q * 64;
        for (int h = 0; h < 2; ++h) {
          const __m256i raw = _mm256_load_si256(reinterpret_cast<const __m256i*>(wq + 32 * h));
          const __m256i lo = _mm256_and_si256(raw, low);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
          for (int t = 0; t < MT; ++t) {
            c[t][p][h] = _mm256_add_epi32(c[t][p][h], DotUnsigned(lo, Broadcast4(x + t * ldx + 8 * q)));
            c[t][p][h] = _mm256_add_epi32(c[t][p][h], DotUnsigned(hi, Broadcast4(x + t * ldx + 8 * q + 4)));
          }
        }
      }
    }
  }
  for (int t = 0; t < MT; ++t) {
    for (int p = 0; p < NP; ++p) {
      for (int h = 0; h < 2; ++h) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(acc + t * 64 + p * 16 + h * 8), c[t][p][h]);
      }
    }
  }
}

}  // namespace

void Int8GemmPanelsAvx2(const QuantizedActivations& a, const PackedInt8Weights& w,
                        int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  constexpr int kMaxT = 4;
  auto kernel = [&](int mt, int np, const int8_t* x, int64_t ldx, const uint8_t* wp,
                    int64_t wstride, int64_t kc, int32_t* acc, bool init) {
    // One panel (two ymm of rows) at a time keeps 8 accumulators in registers.
    for (int p = 0; p < np; ++p) {
      int8_detail::DispatchTile<kMaxT>(mt, 1, [&]<int MT, int NP>() {
        if (w.bits == 8) {
          Tile<MT, 1, 8>(x, ldx, wp + p * wstride, wstride, kc, acc + p * 16, init);
        } else {
          Tile<MT, 1, 4>(x, ldx, wp + p * wstride, wstride, kc, acc + p * 16, init);
        }
      });
    }
  };
  const int32_t code_base = w.bits == 8 ? 128 : 0;
  int8_detail::DrivePanels<4, kMaxT>(a, w, panel0, n_panels, y, ldy, code_base, kernel);
}

}  // namespace gpt2q
