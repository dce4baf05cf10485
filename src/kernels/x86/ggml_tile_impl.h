// Tiles of the ggml matmul, included by ggml_tile_avx2.cc (GPT2Q_GGML_VNNI 0) and
// ggml_tile_avx512.cc (GPT2Q_GGML_VNNI 1, _mm256_dpbusd_epi32): one weight row
// (32-value formats: two) against up to 4 token rows at a time, so each weight
// block is unpacked once per 4 tokens (decode of the 4/5-bit formats: four rows
// against one token). Weights are made unsigned (q4_0: q − 8 → q with a −8·d
// minimum folded into the activation sums), so the inner product is one
// maddubs + madd (or one dpbusd). Both give the same integer sums (no int16
// saturation occurs for these ranges), hence identical results.
#pragma once

#ifndef GPT2Q_GGML_VNNI
#error "define GPT2Q_GGML_VNNI before including ggml_tile_impl.h"
#endif

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/ggml_dot.h"

namespace gpt2q::internal {
namespace {  // NOLINT: each including file gets its own copy, compiled for its ISA

inline float Half(uint16_t h) { return _cvtsh_ss(h); }

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

inline __m256i HighBits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i shuffle = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                             0x0202020202020202, 0x0303030303030303);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuffle);
  const __m256i mask = _mm256_set1_epi64x(0x8040201008040201);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, mask), mask),
                          _mm256_set1_epi8(0x10));
}

inline __m256i DotU8S8(__m256i u, __m256i s) {
#if GPT2Q_GGML_VNNI
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// A 32-value weight block as unsigned bytes u, with w = d·u + m.
struct Unpacked {
  __m256i u;
  float d;
  float m;
};

template <GgmlType T>
inline Unpacked Unpack(const uint8_t* block);

template <>
inline Unpacked Unpack<GgmlType::kQ4_0>(const uint8_t* p) {
  const auto* b = reinterpret_cast<const BlockQ4_0*>(p);
  const float d = Half(b->d);
  return {Nibbles32(b->qs), d, -8.0f * d};
}
template <>
inline Unpacked Unpack<GgmlType::kQ4_1>(const uint8_t* p) {
  const auto* b = reinterpret_cast<const BlockQ4_1*>(p);
  return {Nibbles32(b->qs), Half(b->d), Half(b->m)};
}
template <>
inline Unpacked Unpack<GgmlType::kQ5_0>(const uint8_t* p) {
  const auto* b = reinterpret_cast<const BlockQ5_0*>(p);
  const float d = Half(b->d);
  return {_mm256_or_si256(Nibbles32(b->qs), HighBits(b->qh)), d, -16.0f * d};
}
template <>
inline Unpacked Unpack<GgmlType::kQ5_1>(const uint8_t* p) {
  const auto* b = reinterpret_cast<const BlockQ5_1*>(p);
  return {_mm256_or_si256(Nibbles32(b->qs), HighBits(b->qh)), Half(b->d), Half(b->m)};
}
template <>
inline Unpacked Unpack<GgmlType::kQ8_0>(const uint8_t* p) {
  // Signed: q + 128 would overflow maddubs' int16 pair sums, so Row32 applies
  // the sign trick to this one.
  const auto* b = reinterpret_cast<const BlockQ8_0*>(p);
  return {Load(b->qs), Half(b->d), 0.0f};
}

// y[r + t·ldy] = row r · act_t for R (1..2) rows of row_bytes and M (1..4)
// tokens, 32-value formats: each activation block is loaded once per R rows.
template <GgmlType T, int R, int M>
void Row32(const uint8_t* w, int64_t row_bytes, int64_t nb, const ActQ8* const* act, float* y,
           int64_t ldy) {
  constexpr int64_t kBytes = T == GgmlType::kQ8_0   ? sizeof(BlockQ8_0)
                             : T == GgmlType::kQ4_0 ? sizeof(BlockQ4_0)
                             : T == GgmlType::kQ4_1 ? sizeof(BlockQ4_1)
                             : T == GgmlType::kQ5_0 ? sizeof(BlockQ5_0)
                                                    : sizeof(BlockQ5_1);
  __m256 acc[R][M];
  float mins[R][M];
  // The full tile keeps its 8 minimum terms in one vector, lane 4r + t: the
  // same fused multiply-add per block as the scalar sum of the other tiles.
  constexpr bool kMinVector = R == 2 && M == 4;
  __m256 min_acc = _mm256_setzero_ps();
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < M; ++t) {
      acc[r][t] = _mm256_setzero_ps();
      mins[r][t] = 0.0f;
    }
  }
  for (int64_t i = 0; i < nb; ++i) {
    Unpacked b[R];
    __m256 dw[R];  // one broadcast per block, then loads
    for (int r = 0; r < R; ++r) {
      // The next rows' block at this position: decode streams each row once,
      // and the hardware prefetcher alone leaves this loop waiting on memory.
      _mm_prefetch(reinterpret_cast<const char*>(w + (r + R) * row_bytes + i * kBytes), _MM_HINT_T0);
      b[r] = Unpack<T>(w + r * row_bytes + i * kBytes);
      dw[r] = _mm256_set1_ps(b[r].d);
    }
    for (int t = 0; t < M; ++t) {
      const ActQ8& a = act[t][i];
      const __m256i y = Load(a.qs);
      const __m256 da = _mm256_broadcast_ss(&a.d);
      for (int r = 0; r < R; ++r) {
        __m256i dot;
        if constexpr (T == GgmlType::kQ8_0) {
          dot = DotU8S8(_mm256_sign_epi8(b[r].u, b[r].u), _mm256_sign_epi8(y, b[r].u));
        } else {
          dot = DotU8S8(b[r].u, y);
        }
        acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], da), _mm256_cvtepi32_ps(dot), acc[r][t]);
        if constexpr (T != GgmlType::kQ8_0 && !kMinVector) mins[r][t] = std::fma(b[r].m, a.s, mins[r][t]);
      }
    }
    if constexpr (T != GgmlType::kQ8_0 && kMinVector) {
      const __m128 s = _mm_setr_ps(act[0][i].s, act[1][i].s, act[2][i].s, act[3][i].s);
      min_acc = _mm256_fmadd_ps(_mm256_set_m128(_mm_set1_ps(b[1].m), _mm_set1_ps(b[0].m)),
                                _mm256_set_m128(s, s), min_acc);
    }
  }
  if constexpr (kMinVector) _mm256_storeu_ps(&mins[0][0], min_acc);
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < M; ++t) y[r + t * ldy] = HorizontalSum(acc[r][t]) + mins[r][t];
  }
}

// The unsigned codes u of a 4- or 5-bit 32-value block, as Unpack<T>(block).u,
// in fewer instructions: the 16 nibble bytes broadcast to both halves by the
// load, then shifted by 0 (low half: values 0..15) or 4 (high half: 16..31).
template <GgmlType T, typename Block>
inline __m256i DecodeCodes(const uint8_t* p) {
  const auto* b = reinterpret_cast<const Block*>(p);
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs)));
  const __m256i lo =
      _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0F));
  if constexpr (T == GgmlType::kQ5_0 || T == GgmlType::kQ5_1) return _mm256_or_si256(lo, HighBits(b->qh));
  return lo;
}

// Four fp16 at byte offset `offset` of block i of four consecutive rows, as floats.
inline __m128 Halves4(const uint8_t* w, int64_t row_bytes, int64_t offset) {
  uint16_t h[4];
  for (int r = 0; r < 4; ++r) std::memcpy(&h[r], w + r * row_bytes + offset, 2);
  return _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(h)));
}

// Decode: four rows against one token, y[r] = row r · act (q4_0, q4_1, q5_0,
// q5_1). Per row the very operations of Row32<T, 1, 1> in the same order (so
// the same bits), but the four rows' accumulation chains interleave, hiding the
// multiply-add latency that bound the single row (a dependent chain per
// block), and the four rows' scales convert and multiply as one vector.
template <GgmlType T, typename Block>
void DecodeRows4(const uint8_t* w, int64_t row_bytes, int64_t nb, const ActQ8* act, float* y) {
  constexpr int64_t kBytes = sizeof(Block);
  constexpr bool kStoredMin = T == GgmlType::kQ4_1 || T == GgmlType::kQ5_1;
  constexpr float kOffset = T == GgmlType::kQ4_0 ? -8.0f : -16.0f;  // m = offset·d when not stored
  __m256 acc[4];
  for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_ps();
  __m128 mins = _mm_setzero_ps();  // lane r: row r's Σ m·s
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* block = w + i * kBytes;
    for (int r = 0; r < 4; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(block + (r + 4) * row_bytes), _MM_HINT_T0);
    }
    const ActQ8& a = act[i];
    const __m256i ya = Load(a.qs);
    const __m128 d = Halves4(block, row_bytes, 0);
    alignas(16) float dd[4];
    _mm_store_ps(dd, _mm_mul_ps(d, _mm_set1_ps(a.d)));  // d_r · d_a, as Row32's mul_ps
    const __m128 m = kStoredMin ? Halves4(block, row_bytes, 2) : _mm_mul_ps(d, _mm_set1_ps(kOffset));
    mins = _mm_fmadd_ps(m, _mm_set1_ps(a.s), mins);
    for (int r = 0; r < 4; ++r) {
      const __m256i dot = DotU8S8(DecodeCodes<T, Block>(block + r * row_bytes), ya);
      acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dd[r]), _mm256_cvtepi32_ps(dot), acc[r]);
    }
  }
  alignas(16) float m[4];
  _mm_store_ps(m, mins);
  for (int r = 0; r < 4; ++r) y[r] = HorizontalSum(acc[r]) + m[r];
}

template <int M>
void RowQ4K(const uint8_t* w, int64_t nb, const ActQ8K* const* act, float* y, int64_t ldy) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[M], min_acc[M];
  for (int t = 0; t < M; ++t) acc[t] = min_acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = reinterpret_cast<const BlockQ4_K*>(w + i * sizeof(BlockQ4_K));
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; ++j) Q4KScaleMin(j, b->scales, &sc[j], &m[j]);
    // min_j for each of the 16 bsums (two per 32-value sub-block).
    const __m256i mins16 = _mm256_setr_epi16(m[0], m[0], m[1], m[1], m[2], m[2], m[3], m[3],
                                             m[4], m[4], m[5], m[5], m[6], m[6], m[7], m[7]);
    const float d = Half(b->d), dmin = Half(b->dmin);
    __m256i lo[4], hi[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i q = Load(b->qs + 32 * c);
      lo[c] = _mm256_and_si256(q, m4);
      hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    for (int t = 0; t < M; ++t) {
      const ActQ8K& a = act[t][i];
      const __m256i msum = _mm256_madd_epi16(Load(a.bsums), mins16);
      min_acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * a.d), _mm256_cvtepi32_ps(msum), min_acc[t]);
      __m256i isum = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {
        const __m256i p_lo = _mm256_maddubs_epi16(lo[c], Load(a.qs + 64 * c));
        const __m256i p_hi = _mm256_maddubs_epi16(hi[c], Load(a.qs + 64 * c + 32));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(sc[2 * c])));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(sc[2 * c + 1])));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), _mm256_cvtepi32_ps(isum), acc[t]);
    }
  }
  for (int t = 0; t < M; ++t) y[t * ldy] = HorizontalSum(acc[t]) - HorizontalSum(min_acc[t]);
}

template <int M>
void RowQ6K(const uint8_t* w, int64_t nb, const ActQ8K* const* act, float* y, int64_t ldy) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
  __m256 acc[M];
  for (int t = 0; t < M; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const auto* b = reinterpret_cast<const BlockQ6_K*>(w + i * sizeof(BlockQ6_K));
    const float d = Half(b->d);
    __m256i scale[8];
    for (int s = 0; s < 8; ++s) {
      scale[s] = _mm256_set_m128i(_mm_set1_epi16(b->scales[2 * s + 1]), _mm_set1_epi16(b->scales[2 * s]));
    }
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->scales)));
    __m256i q[8];
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = Load(b->ql + 64 * h), ql1 = Load(b->ql + 64 * h + 32);
      const __m256i qh = Load(b->qh + 32 * h);
      q[4 * h] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      q[4 * h + 1] = _mm256_or_si256(
          _mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
      q[4 * h + 2] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
      q[4 * h + 3] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
    }
    for (int t = 0; t < M; ++t) {
      const ActQ8K& a = act[t][i];
      // −32 · Σ_j sc_j · bsum_j: the offset of every 6-bit code.
      __m256i isum = _mm256_mullo_epi32(_mm256_madd_epi16(Load(a.bsums), scales16),
                                        _mm256_set1_epi32(-32));
      for (int k = 0; k < 8; ++k) {
        const __m256i p = _mm256_maddubs_epi16(q[k], Load(a.qs + 32 * k));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale[k]));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), _mm256_cvtepi32_ps(isum), acc[t]);
    }
  }
  for (int t = 0; t < M; ++t) y[t * ldy] = HorizontalSum(acc[t]);
}

template <int R, int M>
void RowDispatch(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t nb,
                 const void* const* act, float* y, int64_t ldy) {
  const auto* a32 = reinterpret_cast<const ActQ8* const*>(act);
  const auto* ak = reinterpret_cast<const ActQ8K* const*>(act);
  switch (type) {
    case GgmlType::kQ8_0: Row32<GgmlType::kQ8_0, R, M>(w, row_bytes, nb, a32, y, ldy); break;
    case GgmlType::kQ4_0: Row32<GgmlType::kQ4_0, R, M>(w, row_bytes, nb, a32, y, ldy); break;
    case GgmlType::kQ4_1: Row32<GgmlType::kQ4_1, R, M>(w, row_bytes, nb, a32, y, ldy); break;
    case GgmlType::kQ5_0: Row32<GgmlType::kQ5_0, R, M>(w, row_bytes, nb, a32, y, ldy); break;
    case GgmlType::kQ5_1: Row32<GgmlType::kQ5_1, R, M>(w, row_bytes, nb, a32, y, ldy); break;
    // The K-quants run one row at a time (their unpacked super-block already
    // fills the registers).
    case GgmlType::kQ4_K:
      for (int r = 0; r < R; ++r) RowQ4K<M>(w + r * row_bytes, nb, ak, y + r, ldy);
      break;
    case GgmlType::kQ6_K:
      for (int r = 0; r < R; ++r) RowQ6K<M>(w + r * row_bytes, nb, ak, y + r, ldy);
      break;
  }
}

void GgmlTileImpl(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t nb, int64_t rows,
                  const uint8_t* act, int64_t act_stride, int64_t n, float* y, int64_t ldy) {
  // Prefill: rows in pairs, tokens in fours, so each block loaded serves
  // several products. Decode of one token, 4- and 5-bit 32-value formats: four
  // adjacent rows in step (DecodeRows4), 2× the single row in cache and, on
  // gpt2, 15–18 against 12.5–14 GB/s for q4_0 and q5_0 (bench, alternated runs).
  // q8_0 stays one row at a time (a single sequential stream, 17.5–20 against
  // 14–16 GB/s in four rows: its bytes, not its arithmetic, bound it), as do
  // 2 or 3 tokens and the K-quants. A result's arithmetic does not depend on
  // which group it falls in.
  if (n == 1 && type != GgmlType::kQ8_0 && type != GgmlType::kQ4_K && type != GgmlType::kQ6_K) {
    const auto* a = reinterpret_cast<const ActQ8*>(act);
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
      const uint8_t* wr = w + r * row_bytes;
      switch (type) {
        case GgmlType::kQ4_0: DecodeRows4<GgmlType::kQ4_0, BlockQ4_0>(wr, row_bytes, nb, a, y + r); break;
        case GgmlType::kQ4_1: DecodeRows4<GgmlType::kQ4_1, BlockQ4_1>(wr, row_bytes, nb, a, y + r); break;
        case GgmlType::kQ5_0: DecodeRows4<GgmlType::kQ5_0, BlockQ5_0>(wr, row_bytes, nb, a, y + r); break;
        case GgmlType::kQ5_1: DecodeRows4<GgmlType::kQ5_1, BlockQ5_1>(wr, row_bytes, nb, a, y + r); break;
        default: break;
      }
    }
    for (; r < rows; ++r) {
      const void* a1[1] = {act};
      RowDispatch<1, 1>(type, w + r * row_bytes, row_bytes, nb, a1, y + r, ldy);
    }
    return;
  }
  const int64_t row_step = n < 4 ? 1 : 2;
  for (int64_t r = 0; r < rows; r += row_step) {
    const uint8_t* wr = w + r * row_bytes;
    const bool pair = row_step == 2 && r + 1 < rows;
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) {
      const void* a[4] = {act + t * act_stride, act + (t + 1) * act_stride,
                          act + (t + 2) * act_stride, act + (t + 3) * act_stride};
      if (pair) {
        RowDispatch<2, 4>(type, wr, row_bytes, nb, a, y + t * ldy + r, ldy);
      } else {
        RowDispatch<1, 4>(type, wr, row_bytes, nb, a, y + t * ldy + r, ldy);
      }
    }
    for (; t < n; ++t) {
      const void* a[1] = {act + t * act_stride};
      if (pair) {
        RowDispatch<2, 1>(type, wr, row_bytes, nb, a, y + t * ldy + r, ldy);
      } else {
        RowDispatch<1, 1>(type, wr, row_bytes, nb, a, y + t * ldy + r, ldy);
      }
    }
  }
}

}  // namespace
}  // namespace gpt2q::internal
