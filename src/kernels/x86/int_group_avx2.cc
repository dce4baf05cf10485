// AVX2 int-group kernels: a panel's 16 rows as two halves of 8 lanes (the
// first and second 32 bytes of each 64-byte word row); every code of a unit
// is peeled from its word(s) by a shift and a mask, minus the zero-point,
// converted and multiplied in int_group_gemv.h's float sequence.
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
inline __m256i CodeAt(const __m256i* v) {
  if constexpr (kBits == 3) {
    if constexpr (kC < 30) {
      return _mm256_and_si256(_mm256_srli_epi32(v[kC / 10], 3 * (kC % 10)), _mm256_set1_epi32(7));
    } else {
      const __m256i high = _mm256_and_si256(_mm256_srli_epi32(v[2], kC == 30 ? 28 : 29), _mm256_set1_epi32(4));
      return _mm256_or_si256(_mm256_srli_epi32(v[kC - 30], 30), high);
    }
  } else {
    constexpr int kShift = kBits * kC;  // one word per unit
    if constexpr (kShift + kBits == 32) {
      return _mm256_srli_epi32(v[0], kShift);  // the top field needs no mask
    } else if constexpr (kShift == 0) {
      return _mm256_and_si256(v[0], _mm256_set1_epi32((1 << kBits) - 1));
    } else {
      return _mm256_and_si256(_mm256_srli_epi32(v[0], kShift), _mm256_set1_epi32((1 << kBits) - 1));
    }
  }
}

// Loads the unit's words for lanes [8h, 8h + 8): word w is 64 bytes after word w − 1.
template <int kBits>
inline void LoadUnit(const uint32_t* first_word, __m256i* v) {
  for (int w = 0; w < UnitWords(kBits); ++w) {
    v[w] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(first_word + 16 * w));
  }
}

// One unit of the fused product for kT tokens: a[t][c % 4] += x_t[c] · (q_c − zero).
template <int kBits, int kT, int... kC>
inline void DotUnit(const __m256i* v, __m256i zero, const float* const* x, __m256 (*a)[4],
                    std::integer_sequence<int, kC...>) {
  auto step = [&]<int C>() {
    const __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(CodeAt<kBits, C>(v), zero));
    for (int t = 0; t < kT; ++t) a[t][C % 4] = _mm256_fmadd_ps(_mm256_broadcast_ss(x[t] + C), f, a[t][C % 4]);
  };
  (step.template operator()<kC>(), ...);
}

// Rows [8h, 8h + 8) of panel p for tokens [t0, t0 + kT).
template <int kBits, int kT>
void GemvHalf(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t t0, int64_t p, int h,
              float* y, int64_t ldy) {
  constexpr int kUnit = UnitCodes(kBits), kWords = UnitWords(kBits);
  const uint32_t* lane = w.codes.as<uint32_t>() + p * w.words * 16 + 8 * h;
  __m256 out[kT];
  for (int t = 0; t < kT; ++t) out[t] = _mm256_setzero_ps();
  for (int64_t g = 0; g < w.n_groups; ++g) {
    const int64_t meta = (p * w.n_groups + g) * 16 + 8 * h;
    const __m256i zero = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.zeros.data() + meta)));
    const __m256 scale = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales.as<uint16_t>() + meta)));
    __m256 a[kT][4];
    for (int t = 0; t < kT; ++t) {
      for (int e = 0; e < 4; ++e) a[t][e] = _mm256_setzero_ps();
    }
    const int64_t word0 = g * w.group_pad * kBits / 32;
    const int64_t n_units = w.GroupPadded(g) / kUnit;
    for (int64_t u = 0; u < n_units; ++u) {
      __m256i v[kWords];
      LoadUnit<kBits>(lane + (word0 + u * kWords) * 16, v);
      const float* x[kT];
      for (int t = 0; t < kT; ++t) x[t] = xp + (t0 + t) * ldx + g * w.group_pad + u * kUnit;
      DotUnit<kBits, kT>(v, zero, x, a, std::make_integer_sequence<int, kUnit>{});
    }
    for (int t = 0; t < kT; ++t) {
      const __m256 sum = _mm256_add_ps(_mm256_add_ps(a[t][0], a[t][1]), _mm256_add_ps(a[t][2], a[t][3]));
      out[t] = _mm256_fmadd_ps(sum, scale, out[t]);
    }
  }
  const int64_t j0 = p * 16 + 8 * h;
  const int64_t valid = std::min<int64_t>(8, w.rows - j0);
  for (int t = 0; t < kT; ++t) {
    float* dst = y + (t0 + t) * ldy + j0;
    if (valid == 8) {
      _mm256_storeu_ps(dst, out[t]);
    } else {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, out[t]);
      std::copy(tmp, tmp + valid, dst);
    }
  }
}

template <int kBits>
void GemvPanels(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t n, int64_t panel0,
                int64_t n_panels, float* y, int64_t ldy) {
  for (int64_t p = panel0; p < panel0 + n_panels; ++p) {
    for (int h = 0; h < 2; ++h) {
      if (p * 16 + 8 * h >= w.rows) break;  // a half of padding rows only
      int64_t t = 0;
      for (; t + 2 <= n; t += 2) GemvHalf<kBits, 2>(w, xp, ldx, t, p, h, y, ldy);
      if (t < n) GemvHalf<kBits, 1>(w, xp, ldx, t, p, h, y, ldy);
    }
  }
}

// Dequantized values of code kC for 8 lanes, stored at tile row k if k is real.
template <int kBits, int... kC>
inline void DequantUnit(const __m256i* v, __m256i zero, __m256 scale, int64_t left, float* dst, int64_t ld,
                        std::integer_sequence<int, kC...>) {
  auto step = [&]<int C>() {
    if (C < left) {
      const __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(CodeAt<kBits, C>(v), zero));
      _mm256_storeu_ps(dst + C * ld, _mm256_mul_ps(scale, f));
    }
  };
  (step.template operator()<kC>(), ...);
}

template <int kBits>
void DequantPanelsT(const IntGroupPacked& w, int64_t panel0, int64_t n_panels, float* tile, int64_t ld) {
  constexpr int kUnit = UnitCodes(kBits), kWords = UnitWords(kBits);
  for (int64_t p = panel0; p < panel0 + n_panels; ++p) {
    for (int h = 0; h < 2; ++h) {
      const uint32_t* lane = w.codes.as<uint32_t>() + p * w.words * 16 + 8 * h;
      float* col = tile + (p - panel0) * 16 + 8 * h;
      for (int64_t g = 0; g < w.n_groups; ++g) {
        const int64_t meta = (p * w.n_groups + g) * 16 + 8 * h;
        const __m256i zero =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.zeros.data() + meta)));
        const __m256 scale =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales.as<uint16_t>() + meta)));
        const int64_t word0 = g * w.group_pad * kBits / 32;
        const int64_t len = w.GroupLength(g);
        for (int64_t u = 0; u * kUnit < len; ++u) {
          __m256i v[kWords];
          LoadUnit<kBits>(lane + (word0 + u * kWords) * 16, v);
          DequantUnit<kBits>(v, zero, scale, len - u * kUnit, col + (g * w.group + u * kUnit) * ld, ld,
                             std::make_integer_sequence<int, kUnit>{});
        }
      }
    }
  }
}

}  // namespace

void IntGroupGemvPanelsAvx2(const IntGroupPacked& w, const float* xp, int64_t ldx, int64_t n,
                            int64_t panel0, int64_t n_panels, float* y, int64_t ldy) {
  switch (w.bits) {
    case 2: return GemvPanels<2>(w, xp, ldx, n, panel0, n_panels, y, ldy);
    case 3: return GemvPanels<3>(w, xp, ldx, n, panel0, n_panels, y, ldy);
    case 4: return GemvPanels<4>(w, xp, ldx, n, panel0, n_panels, y, ldy);
    default: return GemvPanels<8>(w, xp, ldx, n, panel0, n_panels, y, ldy);
  }
}

void IntGroupDequantizePanelsTAvx2(const IntGroupPacked& w, int64_t panel0, int64_t n_panels,
                                   float* tile, int64_t ld) {
  switch (w.bits) {
    case 2: return DequantPanelsT<2>(w, panel0, n_panels, tile, ld);
    case 3: return DequantPanelsT<3>(w, panel0, n_panels, tile, ld);
    case 4: return DequantPanelsT<4>(w, panel0, n_panels, tile, ld);
    default: return DequantPanelsT<8>(w, panel0, n_panels, tile, ld);
  }
}

}  // namespace gpt2q
