// AVX2 weight-only int8 / int4 GEMV: a panel's 16 rows as two ymm halves
// (rows 0–7 from the first 32 bytes of a quad, rows 8–15 from the next 32);
// the four codes of a lane are peeled by shifts into four accumulators, as
// int8_gemv.h's float sequence prescribes.
#include <immintrin.h>

#include <algorithm>

#include "kernels/int8_gemv.h"

namespace gpt2q {
namespace {

// Returns the code at bit kShift of every lane, minus the row's offset, as floats.
template <int kShift, int kMask>
inline __m256 Code(__m256i v, __m256i offset) {
  __m256i u = _mm256_srli_epi32(v, kShift);
  if constexpr (kShift + 8 < 32 || kMask != 0xff) u = _mm256_and_si256(u, _mm256_set1_epi32(kMask));
  return _mm256_cvtepi32_ps(_mm256_sub_epi32(u, offset));
}

// a[e] = fma(x[e], code(4·quad + e), a[e]) for one quad: 8-bit codes, or the
// low / high nibbles of 4-bit ones.
template <int kBits, bool kHighNibble = false>
inline void Quad(__m256i v, const float* x, __m256i offset, __m256 a[4]) {
  constexpr int kMask = kBits == 8 ? 0xff : 0x0f, kBase = kHighNibble ? 4 : 0;
  a[0] = _mm256_fmadd_ps(_mm256_set1_ps(x[0]), Code<kBase, kMask>(v, offset), a[0]);
  a[1] = _mm256_fmadd_ps(_mm256_set1_ps(x[1]), Code<kBase + 8, kMask>(v, offset), a[1]);
  a[2] = _mm256_fmadd_ps(_mm256_set1_ps(x[2]), Code<kBase + 16, kMask>(v, offset), a[2]);
  a[3] = _mm256_fmadd_ps(_mm256_set1_ps(x[3]), Code<kBase + 24, kMask>(v, offset), a[3]);
}

inline __m256i Load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

}  // namespace

void Int8GemvPanelsAvx2(const float* x, const PackedInt8Weights& w, int64_t panel0, int64_t n_panels,
                        float* y) {
  const int64_t bytes_per_k = w.bits == 8 ? 16 : 8;
  for (int64_t p = panel0; p < panel0 + n_panels; ++p) {
    const int32_t* offsets = w.offsets.as<int32_t>() + p * 16;
    const __m256i offset[2] = {Load(reinterpret_cast<const uint8_t*>(offsets)),
                               Load(reinterpret_cast<const uint8_t*>(offsets + 8))};
    __m256 out[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t g = 0; g < w.n_groups; ++g) {
      const uint8_t* codes = w.codes.data() + (p * w.n_groups + g) * w.group * bytes_per_k;
      const float* xg = x + g * w.group;
      __m256 a[2][4];
      for (auto& half : a) {
        for (auto& acc : half) acc = _mm256_setzero_ps();
      }
      if (w.bits == 8) {
        for (int64_t q = 0; q < w.group / 4; ++q) {
          for (int h = 0; h < 2; ++h) Quad<8>(Load(codes + q * 64 + 32 * h), xg + 4 * q, offset[h], a[h]);
        }
      } else {
        // 64 bytes = two quads: the first in the low nibbles, the second in the high.
        for (int64_t q = 0; q < w.group / 4; q += 2) {
          for (int h = 0; h < 2; ++h) {
            const __m256i v = Load(codes + q * 32 + 32 * h);
            Quad<4>(v, xg + 4 * q, offset[h], a[h]);
            Quad<4, true>(v, xg + 4 * q + 4, offset[h], a[h]);
          }
        }
      }
      const float* steps = w.steps.as<float>() + (p * w.n_groups + g) * 16;
      for (int h = 0; h < 2; ++h) {
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(a[h][0], a[h][1]), _mm256_add_ps(a[h][2], a[h][3]));
        out[h] = _mm256_fmadd_ps(sum, _mm256_loadu_ps(steps + 8 * h), out[h]);
      }
    }
    alignas(32) float tile[16];
    _mm256_store_ps(tile, out[0]);
    _mm256_store_ps(tile + 8, out[1]);
    const int64_t valid = std::min<int64_t>(16, w.rows - p * 16);
    std::copy(tile, tile + valid, y + p * 16);
  }
}

}  // namespace gpt2q
