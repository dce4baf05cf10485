// Per-token int8 activation quantization: AVX2 fast path and scalar reference.
#include "kernels/quantize_activations.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace gpt2q {
namespace {

void Prepare(int64_t n, int64_t kpad, int64_t group, QuantizedActivations* out) {
  const int64_t n_groups = kpad / group;
  if (out->n != n || out->kpad != kpad || out->group != group) {
    out->n = n;
    out->kpad = kpad;
    out->group = group;
    out->n_groups = n_groups;
    out->q = AlignedBuffer(static_cast<size_t>(n * kpad));
    out->scale = AlignedBuffer(static_cast<size_t>(n) * sizeof(float));
    out->xsum = AlignedBuffer(static_cast<size_t>(n * n_groups) * sizeof(int32_t));
  }
}

void FillSums(int64_t t, QuantizedActivations* out) {
  const int8_t* q = out->Row(t);
  int32_t* sums = out->xsum.as<int32_t>() + t * out->n_groups;
  for (int64_t g = 0; g < out->n_groups; ++g) {
    int32_t s = 0;
    for (int64_t k = g * out->group; k < (g + 1) * out->group; ++k) s += q[k];
    sums[g] = s;
  }
}

inline int8_t StaticCode(float v, float delta) {
  return static_cast<int8_t>(std::clamp(std::nearbyint(v / delta), -127.0f, 127.0f));
}

// The per-token step and the code of v: kDelta divides by Δ_t (SmoothQuant),
// otherwise v is multiplied by the rounded reciprocal 127/max (bitsandbytes).
enum class TokenRule { kReciprocal, kDelta };

template <TokenRule kRule>
float TokenStep(float amax) {
  return kRule == TokenRule::kDelta ? std::max(amax, 1e-5f) / 127.0f : amax / 127.0f;
}

template <TokenRule kRule>
float TokenOperand(float amax) {  // what x is multiplied (kReciprocal) or divided (kDelta) by
  if (kRule == TokenRule::kDelta) return TokenStep<kRule>(amax);
  return amax > 0.0f ? 127.0f / amax : 0.0f;
}

template <TokenRule kRule>
int8_t TokenCode(float v, float operand) {
  return static_cast<int8_t>(std::nearbyint(kRule == TokenRule::kDelta ? v / operand : v * operand));
}

template <TokenRule kRule>
void QuantizeTokensRef(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                       QuantizedActivations* out) {
  Prepare(n, kpad, group, out);
  for (int64_t t = 0; t < n; ++t) {
    const float* row = x + t * cols;
    int8_t* q = out->q.as<int8_t>() + t * kpad;
    float amax = 0.0f;
    for (int64_t k = 0; k < cols; ++k) amax = std::max(amax, std::fabs(row[k]));
    const float operand = TokenOperand<kRule>(amax);
    for (int64_t k = 0; k < cols; ++k) q[k] = TokenCode<kRule>(row[k], operand);
    std::memset(q + cols, 0, static_cast<size_t>(kpad - cols));
    out->scale.as<float>()[t] = TokenStep<kRule>(amax);
    FillSums(t, out);
  }
}

template <TokenRule kRule>
void QuantizeTokens(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                    QuantizedActivations* out) {
  Prepare(n, kpad, group, out);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t t = 0; t < n; ++t) {
    const float* row = x + t * cols;
    int8_t* q = out->q.as<int8_t>() + t * kpad;
    __m256 vmax = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(row + k), abs_mask));
    float lanes[8];
    _mm256_storeu_ps(lanes, vmax);
    float amax = 0.0f;
    for (float v : lanes) amax = std::max(amax, v);
    for (; k < cols; ++k) amax = std::max(amax, std::fabs(row[k]));
    const float operand = TokenOperand<kRule>(amax);
    const __m256 voperand = _mm256_set1_ps(operand);
    k = 0;
    for (; k + 8 <= cols; k += 8) {
      const __m256 v = _mm256_loadu_ps(row + k);
      // cvtps rounds with MXCSR's default mode: nearest, ties to even.
      __m256i i32 = _mm256_cvtps_epi32(kRule == TokenRule::kDelta ? _mm256_div_ps(v, voperand)
                                                                  : _mm256_mul_ps(v, voperand));
      __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
      __m128i i8 = _mm_packs_epi16(i16, i16);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), i8);
    }
    for (; k < cols; ++k) q[k] = TokenCode<kRule>(row[k], operand);
    std::memset(q + cols, 0, static_cast<size_t>(kpad - cols));
    out->scale.as<float>()[t] = TokenStep<kRule>(amax);
    FillSums(t, out);
  }
}

}  // namespace

void QuantizeActivationsRef(const float* x, int64_t n, int64_t cols, int64_t kpad,
                            int64_t group, QuantizedActivations* out) {
  QuantizeTokensRef<TokenRule::kReciprocal>(x, n, cols, kpad, group, out);
}

void QuantizeActivations(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                         QuantizedActivations* out) {
  QuantizeTokens<TokenRule::kReciprocal>(x, n, cols, kpad, group, out);
}

void QuantizeActivationsDeltaRef(const float* x, int64_t n, int64_t cols, int64_t kpad,
                                 int64_t group, QuantizedActivations* out) {
  QuantizeTokensRef<TokenRule::kDelta>(x, n, cols, kpad, group, out);
}

void QuantizeActivationsDelta(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                              QuantizedActivations* out) {
  QuantizeTokens<TokenRule::kDelta>(x, n, cols, kpad, group, out);
}

void QuantizeActivationsStaticRef(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                                  float delta, QuantizedActivations* out) {
  Prepare(n, kpad, group, out);
  for (int64_t t = 0; t < n; ++t) {
    const float* row = x + t * cols;
    int8_t* q = out->q.as<int8_t>() + t * kpad;
    for (int64_t k = 0; k < cols; ++k) q[k] = StaticCode(row[k], delta);
    std::memset(q + cols, 0, static_cast<size_t>(kpad - cols));
    out->scale.as<float>()[t] = delta;
    FillSums(t, out);
  }
}

void QuantizeActivationsStatic(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                               float delta, QuantizedActivations* out) {
  Prepare(n, kpad, group, out);
  const __m256 vdelta = _mm256_set1_ps(delta);
  const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  for (int64_t t = 0; t < n; ++t) {
    const float* row = x + t * cols;
    int8_t* q = out->q.as<int8_t>() + t * kpad;
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
      // IEEE division and round-half-to-even, as the scalar reference.
      __m256 v = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(row + k), vdelta),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m256i i32 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
      __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), _mm_packs_epi16(i16, i16));
    }
    for (; k < cols; ++k) q[k] = StaticCode(row[k], delta);
    std::memset(q + cols, 0, static_cast<size_t>(kpad - cols));
    out->scale.as<float>()[t] = delta;
    FillSums(t, out);
  }
}

}  // namespace gpt2q
