// AVX2 kernels of the bitsandbytes 4-bit formats: the threshold quantizer and the
// streaming fused dequantize-and-multiply (nibble → float through the 16-entry
// table: as four byte planes and _mm256_shuffle_epi8 for blocks of a multiple
// of 64, else in two registers, _mm256_permutevar8x32_ps plus a blend on bit 3).
#include <immintrin.h>

#include <cstring>

#include "kernels/q4_bnb4.h"
#include "kernels/x86/q4_bnb4_driver.h"

namespace gpt2q {
namespace {

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Codes (epi32, 0..15) of 8 values already scaled by 1/absmax.
inline __m256i Nf4Codes(__m256 v) {
  __m256i count = _mm256_setzero_si256();
  for (int t = 0; t < 15; ++t) {
    const __m256 gt = _mm256_cmp_ps(v, _mm256_set1_ps(kNf4Thresholds[t]), _CMP_GT_OQ);
    count = _mm256_sub_epi32(count, _mm256_castps_si256(gt));
  }
  return count;
}

inline __m256i Fp4Codes(__m256 v) {
  const __m256 sign = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
  __m256i rank = _mm256_setzero_si256();
  for (int t = 0; t < 7; ++t) {
    const __m256 gt = _mm256_cmp_ps(a, _mm256_set1_ps(kFp4Thresholds[t]), _CMP_GT_OQ);
    rank = _mm256_sub_epi32(rank, _mm256_castps_si256(gt));
  }
  const __m256i map = _mm256_setr_epi32(kFp4RankToCode[0], kFp4RankToCode[1], kFp4RankToCode[2],
                                        kFp4RankToCode[3], kFp4RankToCode[4], kFp4RankToCode[5],
                                        kFp4RankToCode[6], kFp4RankToCode[7]);
  const __m256i code = _mm256_permutevar8x32_epi32(map, rank);
  return _mm256_or_si256(code, _mm256_and_si256(_mm256_castps_si256(sign), _mm256_set1_epi32(8)));
}

// Returns 8 table entries, one per lane, indexed by bits 0..3 of the lane
// (higher bits are ignored: permutevar8x32 reads bits 0..2, the blend bit 3).
inline __m256 Lookup16(__m256 lo, __m256 hi, __m256i idx) {
  const __m256 a = _mm256_permutevar8x32_ps(lo, idx);
  const __m256 b = _mm256_permutevar8x32_ps(hi, idx);
  return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

// Indices of 16 values from 8 code bytes, in kBnb4LaneOrder: the 64-bit group
// broadcast to every qword, shifted by 4k in qword k (lanes 2k, 2k + 1 get bits
// 4k and 4k + 32).
inline void Unpack16(const uint8_t* q, __m256i* i0, __m256i* i1) {
  int64_t bits;
  std::memcpy(&bits, q, 8);
  const __m256i v = _mm256_set1_epi64x(bits);
  // Only bits 0..3 of each lane are read by Lookup16: no mask needed.
  *i0 = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 4, 8, 12));
  *i1 = _mm256_srlv_epi64(v, _mm256_setr_epi64x(16, 20, 24, 28));
}

template <int N>
void RowDotN(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
             const float* lut16, const float* x, int64_t ldx, float* y, int64_t ldy) {
  constexpr int kAcc = N <= 4 ? 2 : 1;  // two chains hide FMA latency when N is small
  __m256 acc[kAcc][N];
  for (int a = 0; a < kAcc; ++a)
    for (int t = 0; t < N; ++t) acc[a][t] = _mm256_setzero_ps();
  const __m256 lut_lo = _mm256_loadu_ps(lut16), lut_hi = _mm256_loadu_ps(lut16 + 8);
  for (int64_t b = 0; b < cols / block; ++b) {
    const __m256 s = _mm256_set1_ps(absmax[b]);
    const __m256 lo = _mm256_mul_ps(lut_lo, s), hi = _mm256_mul_ps(lut_hi, s);
    for (int64_t c = b * block; c < (b + 1) * block; c += 16) {
      __m256i i0, i1;
      Unpack16(codes + c / 2, &i0, &i1);
      const __m256 w0 = Lookup16(lo, hi, i0), w1 = Lookup16(lo, hi, i1);
      for (int t = 0; t < N; ++t) {
        const float* xt = x + t * ldx + c;
        acc[0][t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt), acc[0][t]);
        acc[kAcc - 1][t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt + 8), acc[kAcc - 1][t]);
      }
    }
  }
  for (int t = 0; t < N; ++t) {
    __m256 sum = acc[0][t];
    if (kAcc == 2) sum = _mm256_add_ps(sum, acc[kAcc - 1][t]);
    y[t * ldy] = HorizontalSum(sum);
  }
}

// The 16 table entries as four byte planes (plane k: byte k of each fp32),
// each in both 128-bit halves, for _mm256_shuffle_epi8.
struct BytePlanes {
  __m256i plane[4];
};

// A 4 × 4 transpose of bytes within each 4-entry quarter, then of the dwords
// across quarters (built per row: cheap next to the row's product).
inline BytePlanes MakeBytePlanes(const float* lut16) {
  const __m128i by_plane = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  __m128i q[4];  // q[i] dword k: byte k of entries 4i .. 4i + 3
  for (int i = 0; i < 4; ++i) {
    q[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut16 + 4 * i)), by_plane);
  }
  const __m128i lo01 = _mm_unpacklo_epi32(q[0], q[1]), lo23 = _mm_unpacklo_epi32(q[2], q[3]);
  const __m128i hi01 = _mm_unpackhi_epi32(q[0], q[1]), hi23 = _mm_unpackhi_epi32(q[2], q[3]);
  const __m128i plane[4] = {_mm_unpacklo_epi64(lo01, lo23), _mm_unpackhi_epi64(lo01, lo23),
                            _mm_unpacklo_epi64(hi01, hi23), _mm_unpackhi_epi64(hi01, hi23)};
  BytePlanes planes;
  for (int k = 0; k < 4; ++k) planes.plane[k] = _mm256_broadcastsi128_si256(plane[k]);
  return planes;
}

// The entries of 32 indices (bytes, 0..15) as 4 vectors of 8 floats: out[j]
// lane 4L + e = lut[idx byte 16L + 4j + e]. Four byte lookups and eight unpacks
// for 32 values: shuffles of one cycle, where _mm256_permutevar8x32_ps (two per
// 8 values, with a blend) is slow on AMD's cores (nf4 decode at a quarter of
// the read bandwidth).
inline void Lookup32(const BytePlanes& t, __m256i idx, __m256* out) {
  const __m256i b0 = _mm256_shuffle_epi8(t.plane[0], idx), b1 = _mm256_shuffle_epi8(t.plane[1], idx);
  const __m256i b2 = _mm256_shuffle_epi8(t.plane[2], idx), b3 = _mm256_shuffle_epi8(t.plane[3], idx);
  const __m256i lo01 = _mm256_unpacklo_epi8(b0, b1), hi01 = _mm256_unpackhi_epi8(b0, b1);
  const __m256i lo23 = _mm256_unpacklo_epi8(b2, b3), hi23 = _mm256_unpackhi_epi8(b2, b3);
  out[0] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(lo01, lo23));
  out[1] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(lo01, lo23));
  out[2] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(hi01, hi23));
  out[3] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(hi01, hi23));
}

// RowDotN for blocks of a multiple of 64, x in kBnb4LaneOrder64: per block,
// Σ lut[code]·x over its 64-value units in kChains partial sums, then
// out = fma(absmax, that sum, out): the table stays unscaled (its planes are
// built once per call).
template <int N>
void RowDot64(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
              const BytePlanes& planes, const float* x, int64_t ldx, float* y, int64_t ldy) {
  constexpr int kChains = N <= 2 ? 4 : N <= 4 ? 2 : 1;  // hide the multiply-add latency
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  __m256 out[N];
  for (int t = 0; t < N; ++t) out[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < cols / block; ++b) {
    __m256 sum[N][kChains];
    for (int t = 0; t < N; ++t) {
      for (int k = 0; k < kChains; ++k) sum[t][k] = _mm256_setzero_ps();
    }
    for (int64_t c = b * block; c < (b + 1) * block; c += 64) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + c / 2));
      __m256 w[8];
      Lookup32(planes, _mm256_and_si256(_mm256_srli_epi16(q, 4), nibble), w);  // even values
      Lookup32(planes, _mm256_and_si256(q, nibble), w + 4);                     // odd values
      for (int t = 0; t < N; ++t) {
        const float* xt = x + t * ldx + c;
        for (int v = 0; v < 8; ++v) {
          sum[t][v % kChains] = _mm256_fmadd_ps(w[v], _mm256_loadu_ps(xt + 8 * v), sum[t][v % kChains]);
        }
      }
    }
    const __m256 scale = _mm256_set1_ps(absmax[b]);
    for (int t = 0; t < N; ++t) {
      __m256 s = sum[t][0];
      for (int k = 1; k < kChains; ++k) s = _mm256_add_ps(s, sum[t][k]);
      out[t] = _mm256_fmadd_ps(scale, s, out[t]);
    }
  }
  for (int t = 0; t < N; ++t) y[t * ldy] = HorizontalSum(out[t]);
}

}  // namespace

void Bnb4QuantizeBlock(const float* x, int64_t count, float inv_absmax, bool nf4, uint8_t* out) {
  const __m256 inv = _mm256_set1_ps(inv_absmax);
  int64_t i = 0;
  alignas(32) int32_t c[16];
  for (; i + 16 <= count; i += 16) {
    const __m256 v0 = _mm256_mul_ps(_mm256_loadu_ps(x + i), inv);
    const __m256 v1 = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8), inv);
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), nf4 ? Nf4Codes(v0) : Fp4Codes(v0));
    _mm256_store_si256(reinterpret_cast<__m256i*>(c + 8), nf4 ? Nf4Codes(v1) : Fp4Codes(v1));
    for (int k = 0; k < 8; ++k) out[i / 2 + k] = static_cast<uint8_t>((c[2 * k] << 4) | c[2 * k + 1]);
  }
  for (; i < count; i += 2) {
    // Tail: the same arithmetic, 8 lanes with only two used.
    alignas(32) float v[8] = {x[i] * inv_absmax, x[i + 1] * inv_absmax, 0, 0, 0, 0, 0, 0};
    const __m256 vv = _mm256_load_ps(v);
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), nf4 ? Nf4Codes(vv) : Fp4Codes(vv));
    out[i / 2] = static_cast<uint8_t>((c[0] << 4) | c[1]);
  }
}

namespace internal {

void Bnb4RowDotAvx2(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                    const float* lut16, const float* x, int64_t n, int64_t ldx, float* y,
                    int64_t ldy) {
  if (block % 64 == 0) {
    const BytePlanes planes = MakeBytePlanes(lut16);
    bnb4_detail::ForEachTokenBlock(n, [&]<int M>(int64_t t0) {
      RowDot64<M>(codes, absmax, cols, block, planes, x + t0 * ldx, ldx, y + t0 * ldy, ldy);
    });
    return;
  }
  bnb4_detail::ForEachTokenBlock(n, [&]<int M>(int64_t t0) {
    RowDotN<M>(codes, absmax, cols, block, lut16, x + t0 * ldx, ldx, y + t0 * ldy, ldy);
  });
}

}  // namespace internal
}  // namespace gpt2q
