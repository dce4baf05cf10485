// The bf16 tile shared by bf16_dot_avx2.cc (GPT2Q_BF16_NATIVE 0: the pair
// products emulated with two fused multiply-adds per lane) and
// bf16_dot_avx512.cc (GPT2Q_BF16_NATIVE 1: _mm512_dpbf16_ps), in
// kernels/bf16_dot.h's lane structure. Rows go four at a time (each step's
// activations unpacked or loaded once for four rows, four independent chains;
// decode one at a time), then the rows left over one at a time: the same
// per-row arithmetic.
#pragma once

#ifndef GPT2Q_BF16_NATIVE
#error "define GPT2Q_BF16_NATIVE before including bf16_dot_impl.h"
#endif

#include <immintrin.h>

#include <cstring>

#include "kernels/bf16_dot.h"

namespace gpt2q::internal {
namespace {  // NOLINT: each including file gets its own copy, compiled for its ISA

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#if GPT2Q_BF16_NATIVE
// 16 lanes in one register.
struct Acc {
  __m512 v = _mm512_setzero_ps();
};
inline void Step(Acc& acc, const uint16_t* w, __m512i x) {
  acc.v = _mm512_dpbf16_ps(acc.v, (__m512bh)_mm512_loadu_si512(w), (__m512bh)x);
}
struct Activations {
  __m512i x;
  explicit Activations(const uint16_t* p) : x(_mm512_loadu_si512(p)) {}
};
inline void Step(Acc& acc, const uint16_t* w, const Activations& a) { Step(acc, w, a.x); }
inline float Reduce(const Acc& acc) {
  return HorizontalSum(_mm256_add_ps(_mm512_castps512_ps256(acc.v), _mm512_extractf32x8_ps(acc.v, 1)));
}
#else
// Lanes 0..7 (values 0..15 of a step) and 8..15 (values 16..31).
struct Acc {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
};
// A bf16 pair in a dword: the odd value is the high half (already an fp32
// with its low bits zero), the even value shifted up.
inline __m256 Odd(__m256i pairs) { return _mm256_castsi256_ps(_mm256_and_si256(pairs, _mm256_set1_epi32(-65536))); }
inline __m256 Even(__m256i pairs) { return _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16)); }
inline __m256i Load(const uint16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
struct Activations {
  __m256 odd_lo, even_lo, odd_hi, even_hi;
  explicit Activations(const uint16_t* p) {
    const __m256i lo = Load(p), hi = Load(p + 16);
    odd_lo = Odd(lo), even_lo = Even(lo), odd_hi = Odd(hi), even_hi = Even(hi);
  }
};
inline void Step(Acc& acc, const uint16_t* w, const Activations& a) {
  const __m256i lo = Load(w), hi = Load(w + 16);
  acc.lo = _mm256_fmadd_ps(Odd(lo), a.odd_lo, acc.lo);
  acc.lo = _mm256_fmadd_ps(Even(lo), a.even_lo, acc.lo);
  acc.hi = _mm256_fmadd_ps(Odd(hi), a.odd_hi, acc.hi);
  acc.hi = _mm256_fmadd_ps(Even(hi), a.even_hi, acc.hi);
}
inline float Reduce(const Acc& acc) { return HorizontalSum(_mm256_add_ps(acc.lo, acc.hi)); }
#endif

// out[r] = dot(row r, x) for R rows of `cols` values starting at w (stride cols).
template <int R>
void DotRows(const uint16_t* w, int64_t cols, const uint16_t* x, float* out) {
  Acc acc[R];
  const int64_t full = cols / kBf16Step * kBf16Step;
  for (int64_t k = 0; k < full; k += kBf16Step) {
    const Activations a(x + k);
    for (int r = 0; r < R; ++r) {
      // The next rows' line at this step (a step is one 64-byte line per row):
      // in decode the hardware prefetcher alone leaves this loop waiting on
      // memory; in prefill it brings the next rows into cache early.
      _mm_prefetch(reinterpret_cast<const char*>(w + (r + R) * cols + k), _MM_HINT_T0);
      Step(acc[r], w + r * cols + k, a);
    }
  }
  if (full < cols) {  // the last, partial step: the row's tail, then zeros
    uint16_t tail[R][kBf16Step] = {};
    for (int r = 0; r < R; ++r) std::memcpy(tail[r], w + r * cols + full, (cols - full) * sizeof(uint16_t));
    const Activations a(x + full);
    for (int r = 0; r < R; ++r) Step(acc[r], tail[r], a);
  }
  for (int r = 0; r < R; ++r) out[r] = Reduce(acc[r]);
}

void Bf16TileImpl(const uint16_t* w, int64_t cols, int64_t rows, const uint16_t* xb, int64_t n, float* y,
                  int64_t ldy) {
  const int64_t padded = Bf16PaddedCols(cols);
  int64_t r = 0;
  // Decode (fewer than 4 tokens) is bound by memory: one row at a time is a
  // single stream, 1.9× fp32 on gpt2 where four rows in step (four streams)
  // gave 1.5×; its two chains per row are fast enough for the bandwidth.
  // Prefill takes four rows per token, each step's activations unpacked once.
  for (; n >= 4 && r + 4 <= rows; r += 4) {
    for (int64_t t = 0; t < n; ++t) {
      float out[4];
      DotRows<4>(w + r * cols, cols, xb + t * padded, out);
      std::memcpy(y + t * ldy + r, out, sizeof(out));
    }
  }
  for (; r < rows; ++r) {
    for (int64_t t = 0; t < n; ++t) DotRows<1>(w + r * cols, cols, xb + t * padded, y + t * ldy + r);
  }
}

}  // namespace
}  // namespace gpt2q::internal
