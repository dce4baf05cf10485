// AVX-512 int-group fused product: one zmm holds a whole panel's 16 rows (one
// 64-byte word row); codes are peeled by a shift and a mask, minus the
// zero-point, converted and multiplied in int_group_gemv.h's float sequence.
// GCC 12 warns inside its own AVX-512 headers (the "undefined" passthrough of
// the unmasked intrinsics, GCC bug 105593); nothing here is uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <utility>

#include "kernels/int_group_gemv.h"

namespace gpt2q {
namespace {

constexpr int UnitCodes(int bits) { return bits == 2 ? 16 : bits == 3 ? 32 : bits == 4 ? 8 : 4; }
constexpr int UnitWords(int bits) { return bits == 3 ? 3 : 1; }

// Returns code kC of a unit whose words (lanes = rows) are v[0 .. UnitWords).
template <int kBits, int kC>
inline __m512i CodeAt(const __m512i* v) {
  if constexpr (kBits == 3) {
    if constexpr (kC < 30) {
      return _mm512_and_si512(_mm512_srli_epi32(v[kC / 10], 3 * (kC % 10)), _mm512_set1_epi32(7));
    } else {
      const __m512i high = _mm512_and_si512(_mm512_srli_epi32(v[2], kC == 30 ? 28 : 29), _mm512_set1_epi32(4));
      return _mm512_or_si512(_mm512_srli_epi32(v[kC - 30], 30), high);
    }
  } else {
    constexpr int kShift = kBits * kC;  // one word per unit
    if constexpr (kShift + kBits == 32) {
      return _mm512_srli_epi32(v[0], kShift);  // the top field needs no mask
    } else if constexpr (kShift == 0) {
      return _mm512_and_si512(v[0], _mm512_set1_epi32((1 << kBits) - 1));
    } else {
      return _mm512_and_si512(_mm512_srli_epi32(v[0], kShift), _mm512_set1_epi32((1 << kBits) - 1));
    }
  }
}

// One unit of the fused product for kT tokens: a[t][c % 4] += x_t[c] · (q_c − zero).
template <int kBits, int kT, int... kC>
inline void DotUnit(const __m512i* v, __m512i zero, const float* const* x, __m512 (*a)[4],
                    std::integer_sequence<int, kC...>) {
  auto step = [&]<int C>() {
    const __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(CodeAt<kBits, C>(v), zero));
    for (int t = 0; t < kT; ++t) a[t][C % 4] = _mm512_fmadd_ps(_mm512_set1_ps(x[t][C]), f, a[t][C % 4]);
  };
  (step.template operator()<kC>(), ...);
}

// The 16 rows of panel p for tokens [t0, t0 + kT).
template <int kBits, int kT>
void GemvPanel(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t t0, int64_t p, float* y,
               int64_t ldy) {
  constexpr int kUnit = UnitCodes(kBits), kWords = UnitWords(kBits);
  const uint32_t* lane = w.codes.as<uint32_t>() + p * w.words * 16;
  __m512 out[kT];
  for (int t = 0; t < kT; ++t) out[t] = _mm512_setzero_ps();
  for (int64_t g = 0; g < w.n_groups; ++g) {
    const int64_t meta = (p * w.n_groups + g) * 16;
    const __m512i zero =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.zeros.data() + meta)));
    const __m512 scale =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.scales.as<uint16_t>() + meta)));
    __m512 a[kT][4];
    for (int t = 0; t < kT; ++t) {
      for (int e = 0; e < 4; ++e) a[t][e] = _mm512_setzero_ps();
    }
    const int64_t word0 = g * w.group_pad * kBits / 32;
    const int64_t n_units = w.GroupPadded(g) / kUnit;
    for (int64_t u = 0; u < n_units; ++u) {
      __m512i v[kWords];
      for (int k = 0; k < kWords; ++k) v[k] = _mm512_loadu_si512(lane + (word0 + u * kWords + k) * 16);
      const float* x[kT];
      for (int t = 0; t < kT; ++t) x[t] = xp + (t0 + t) * ldx + g * w.group_pad + u * kUnit;
      DotUnit<kBits, kT>(v, zero, x, a, std::make_integer_sequence<int, kUnit>{});
    }
    for (int t = 0; t < kT; ++t) {
      const __m512 sum = _mm512_add_ps(_mm512_add_ps(a[t][0], a[t][1]), _mm512_add_ps(a[t][2], a[t][3]));
      out[t] = _mm512_fmadd_ps(sum, scale, out[t]);
    }
  }
  const int64_t valid = std::min<int64_t>(16, w.rows - p * 16);
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int t = 0; t < kT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * ldy + p * 16, mask, out[t]);
}

template <int kBits>
void GemvPanels(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t n, int64_t panel0,
                int64_t n_panels, float* y, int64_t ldy) {
  for (int64_t p = panel0; p < panel0 + n_panels; ++p) {
    int64_t t = 0;
    for (; t + 2 <= n; t += 2) GemvPanel<kBits, 2>(w, xp, ldx, t, p, y, ldy);
    if (t < n) GemvPanel<kBits, 1>(w, xp, ldx, t, p, y, ldy);
  }
}

}  // namespace

void IntGroupGemvPanelsAvx512(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t n,
                              int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  switch (w.bits) {
    case 2: return GemvPanels<2>(w, xp, ldx, n, panel0, n_panels, y, ldy);
    case 3: return GemvPanels<3>(w, xp, ldx, n, panel0, n_panels, y, ldy);
    case 4: return GemvPanels<4>(w, xp, ldx, n, panel0, n_panels, y, ldy);
    default: return GemvPanels<8>(w, xp, ldx, n, panel0, n_panels, y, ldy);
  }
}

}  // namespace gpt2q
