// AVX-512 weight-only int8 / int4 GEMV: one zmm holds a panel's 16 rows; the
// four codes of a lane (k = 4·quad + e) are peeled by shifts into four
// accumulators, as int8_gemv.h's float sequence prescribes.
// GCC 12 warns inside its own AVX-512 headers (the "undefined" passthrough of
// the unmasked intrinsics, GCC bug 105593); nothing here is uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/int8_gemv.h"

namespace gpt2q {
namespace {

// Returns the code at bit kShift of every lane, minus the row's offset, as floats.
template <int kShift, int kMask>
inline __m512 Code(__m512i v, __m512i offset) {
  __m512i u = _mm512_srli_epi32(v, kShift);
  if constexpr (kShift + 8 < 32 || kMask != 0xff) u = _mm512_and_si512(u, _mm512_set1_epi32(kMask));
  return _mm512_cvtepi32_ps(_mm512_sub_epi32(u, offset));
}

// a[e] = fma(x[e], code(4·quad + e), a[e]) for one quad: 8-bit codes, or the
// low / high nibbles of 4-bit ones.
template <int kBits, bool kHighNibble = false>
inline void Quad(__m512i v, const float* x, __m512i offset, __m512 a[4]) {
  constexpr int kMask = kBits == 8 ? 0xff : 0x0f, kBase = kHighNibble ? 4 : 0;
  a[0] = _mm512_fmadd_ps(_mm512_set1_ps(x[0]), Code<kBase, kMask>(v, offset), a[0]);
  a[1] = _mm512_fmadd_ps(_mm512_set1_ps(x[1]), Code<kBase + 8, kMask>(v, offset), a[1]);
  a[2] = _mm512_fmadd_ps(_mm512_set1_ps(x[2]), Code<kBase + 16, kMask>(v, offset), a[2]);
  a[3] = _mm512_fmadd_ps(_mm512_set1_ps(x[3]), Code<kBase + 24, kMask>(v, offset), a[3]);
}

}  // namespace

void Int8GemvPanelsAvx512(const float* x, const PackedInt8Weights& w, int64_t panel0, int64_t n_panels,
                          float* y) {
  const int64_t bytes_per_k = w.bits == 8 ? 16 : 8;
  for (int64_t p = panel0; p < panel0 + n_panels; ++p) {
    const __m512i offset = _mm512_loadu_si512(w.offsets.as<int32_t>() + p * 16);
    __m512 out = _mm512_setzero_ps();
    for (int64_t g = 0; g < w.n_groups; ++g) {
      const uint8_t* codes = w.codes.data() + (p * w.n_groups + g) * w.group * bytes_per_k;
      const float* xg = x + g * w.group;
      __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      if (w.bits == 8) {
        for (int64_t q = 0; q < w.group / 4; ++q) {
          Quad<8>(_mm512_loadu_si512(codes + q * 64), xg + 4 * q, offset, a);
        }
      } else {
        // 64 bytes = two quads: the first in the low nibbles, the second in the high.
        for (int64_t q = 0; q < w.group / 4; q += 2) {
          const __m512i v = _mm512_loadu_si512(codes + q * 32);
          Quad<4>(v, xg + 4 * q, offset, a);
          Quad<4, true>(v, xg + 4 * q + 4, offset, a);
        }
      }
      const __m512 sum = _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]));
      out = _mm512_fmadd_ps(sum, _mm512_loadu_ps(w.steps.as<float>() + (p * w.n_groups + g) * 16), out);
    }
    const int64_t valid = std::min<int64_t>(16, w.rows - p * 16);
    _mm512_mask_storeu_ps(y + p * 16, static_cast<__mmask16>((1u << valid) - 1), out);
  }
}

}  // namespace gpt2q
