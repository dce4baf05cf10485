// AVX-512 streaming kernel of the bitsandbytes 4-bit formats: the 16-entry
// nibble → float table fits one register (_mm512_permutexvar_ps).
// GCC 12 flags its own AVX-512 intrinsics headers (-Wmaybe-uninitialized on __Y).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/q4_bnb4.h"
#include "kernels/x86/q4_bnb4_driver.h"

namespace gpt2q {
namespace {

template <int N>
void RowDotN(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
             const float* lut16, const float* x, int64_t ldx, float* y, int64_t ldy) {
  __m512 acc[2][N];
  for (int t = 0; t < N; ++t) acc[0][t] = acc[1][t] = _mm512_setzero_ps();
  const __m512 lut = _mm512_loadu_ps(lut16);
  // Lanes 2k and 2k + 1 take bits 4k and 4k + 32 of the 64-bit code group
  // (kBnb4LaneOrder), so the only shuffle is the table lookup. No mask: the
  // lookup reads only the low 4 bits of each index.
  const __m512i shifts = _mm512_setr_epi64(0, 4, 8, 12, 16, 20, 24, 28);
  for (int64_t b = 0; b < cols / block; ++b) {
    const __m512 table = _mm512_mul_ps(lut, _mm512_set1_ps(absmax[b]));
    int64_t c = b * block;
    const int64_t end = (b + 1) * block;
    for (; c + 32 <= end; c += 32) {
      int64_t g0, g1;
      std::memcpy(&g0, codes + c / 2, 8);
      std::memcpy(&g1, codes + c / 2 + 8, 8);
      const __m512i i0 = _mm512_srlv_epi64(_mm512_set1_epi64(g0), shifts);
      const __m512i i1 = _mm512_srlv_epi64(_mm512_set1_epi64(g1), shifts);
      const __m512 w0 = _mm512_permutexvar_ps(i0, table), w1 = _mm512_permutexvar_ps(i1, table);
      for (int t = 0; t < N; ++t) {
        const float* xt = x + t * ldx + c;
        acc[0][t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xt), acc[0][t]);
        acc[1][t] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), acc[1][t]);
      }
    }
    if (c < end) {  // block of 16
      int64_t g0;
      std::memcpy(&g0, codes + c / 2, 8);
      const __m512i i0 = _mm512_srlv_epi64(_mm512_set1_epi64(g0), shifts);
      const __m512 w0 = _mm512_permutexvar_ps(i0, table);
      for (int t = 0; t < N; ++t) {
        acc[0][t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + t * ldx + c), acc[0][t]);
      }
    }
  }
  for (int t = 0; t < N; ++t) y[t * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][t], acc[1][t]));
}

}  // namespace

namespace internal {

void Bnb4RowDotAvx512(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                      const float* lut16, const float* x, int64_t n, int64_t ldx, float* y,
                      int64_t ldy) {
  bnb4_detail::ForEachTokenBlock(n, [&]<int M>(int64_t t0) {
    RowDotN<M>(codes, absmax, cols, block, lut16, x + t0 * ldx, ldx, y + t0 * ldy, ldy);
  });
}

}  // namespace internal
}  // namespace gpt2q
