// AVX2 dot products of the ggml formats against 8-bit activation blocks:
// nibbles unpacked to bytes, _mm256_maddubs_epi16 (unsigned × signed, with the
// sign trick for signed × signed), _mm256_madd_epi16 to int32, fp32 scaling.
#include <immintrin.h>

#include <cstring>

#include "core/half.h"
#include "kernels/ggml_dot.h"

namespace gpt2q::internal {
namespace {

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 32 nibbles of 16 bytes: bytes 0..15 = low nibbles, 16..31 = high nibbles.
inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 0xFF in byte j where bit j of the 32 bits is set.
inline __m256i BytesFromBits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i shuffle = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                             0x0202020202020202, 0x0303030303030303);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuffle);
  const __m256i mask = _mm256_set1_epi64x(0x8040201008040201);
  return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, mask), mask);
}

// Σ pairs of u8 × s8 as 8 int32 lanes.
inline __m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
// Σ pairs of s8 × s8 (x in −127..127 or −16..15) as 8 int32 lanes.
inline __m256i DotS8S8(__m256i x, __m256i y) {
  return DotU8S8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

}  // namespace

float VecDotQ8_0Avx2(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ8_0*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(Fp16ToFloat(w[i].d) * a[i].d);
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotS8S8(Load(w[i].qs), Load(a[i].qs))), acc);
  }
  return HorizontalSum(acc);
}

float VecDotQ4_0Avx2(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ4_0*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(Fp16ToFloat(w[i].d) * a[i].d);
    const __m256i q = _mm256_sub_epi8(Nibbles32(w[i].qs), _mm256_set1_epi8(8));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotS8S8(q, Load(a[i].qs))), acc);
  }
  return HorizontalSum(acc);
}

float VecDotQ4_1Avx2(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ4_1*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(Fp16ToFloat(w[i].d) * a[i].d);
    mins += Fp16ToFloat(w[i].m) * a[i].s;
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotU8S8(Nibbles32(w[i].qs), Load(a[i].qs))), acc);
  }
  return HorizontalSum(acc) + mins;
}

float VecDotQ5_0Avx2(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ5_0*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(Fp16ToFloat(w[i].d) * a[i].d);
    const __m256i high = _mm256_and_si256(BytesFromBits(w[i].qh), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(Nibbles32(w[i].qs), high), _mm256_set1_epi8(16));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotS8S8(q, Load(a[i].qs))), acc);
  }
  return HorizontalSum(acc);
}

float VecDotQ5_1Avx2(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ5_1*>(wv);
  const auto* a = static_cast<const ActQ8*>(av);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(Fp16ToFloat(w[i].d) * a[i].d);
    mins += Fp16ToFloat(w[i].m) * a[i].s;
    const __m256i high = _mm256_and_si256(BytesFromBits(w[i].qh), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_or_si256(Nibbles32(w[i].qs), high);
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotU8S8(q, Load(a[i].qs))), acc);
  }
  return HorizontalSum(acc) + mins;
}

float VecDotQ4_KAvx2(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ4_K*>(wv);
  const auto* a = static_cast<const ActQ8K*>(av);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t sc[8], m[8];
    int msum = 0;
    for (int j = 0; j < 8; ++j) {
      Q4KScaleMin(j, w[i].scales, &sc[j], &m[j]);
      msum += m[j] * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
    }
    mins += Fp16ToFloat(w[i].dmin) * a[i].d * msum;
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = Load(w[i].qs + 32 * c);
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i p_lo = _mm256_maddubs_epi16(lo, Load(a[i].qs + 64 * c));
      const __m256i p_hi = _mm256_maddubs_epi16(hi, Load(a[i].qs + 64 * c + 32));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(sc[2 * c])));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(sc[2 * c + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(Fp16ToFloat(w[i].d) * a[i].d), _mm256_cvtepi32_ps(isum), acc);
  }
  return HorizontalSum(acc) - mins;
}

float VecDotQ6_KAvx2(const void* wv, const void* av, int64_t nb) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const auto* a = static_cast<const ActQ8K*>(av);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(0x03);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const int8_t* sc = w[i].scales;
    int offset = 0;  // Σ sc_j · Σ a over sub-block j: the −32 of every code
    for (int j = 0; j < 16; ++j) offset += sc[j] * a[i].bsums[j];
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = Load(w[i].ql + 64 * h), ql1 = Load(w[i].ql + 64 * h + 32);
      const __m256i qh = Load(w[i].qh + 32 * h);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * h + 2 * k;  // sub-blocks s (low 16 values) and s + 1 (high 16)
        const __m256i p = _mm256_maddubs_epi16(q[k], Load(a[i].qs + 128 * h + 32 * k));
        const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale));
      }
    }
    isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * offset, 0, 0, 0, 0, 0, 0, 0));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(Fp16ToFloat(w[i].d) * a[i].d), _mm256_cvtepi32_ps(isum), acc);
  }
  return HorizontalSum(acc);
}

}  // namespace gpt2q::internal
