// GPTQ's and AWQ's min-max group quantizers, written to match their PyTorch
// references operation by operation in fp32 (see minmax_quantizer.h).
#include "formats/minmax_quantizer.h"

#include <algorithm>
#include <cmath>

namespace gpt2q {
namespace {

// Returns the min and max of x[0, n) (0, 0 when n ≤ 0).
void MinMax(const float* x, int64_t n, float* lo, float* hi) {
  float mn = n > 0 ? x[0] : 0.0f, mx = mn;
  for (int64_t i = 1; i < n; ++i) {
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
  }
  *lo = mn;
  *hi = mx;
}

// torch.round: round half to even. nearbyint uses the current rounding mode,
// which gpt2q never changes from round-to-nearest-even.
float RoundHalfEven(float v) { return std::nearbyint(v); }

// Returns v clamped to [lo, hi] as an int32; NaN → lo.
int32_t ClampToInt(float v, int32_t lo, int32_t hi) {
  if (!(v >= static_cast<float>(lo))) return lo;  // also NaN
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int32_t>(v);
}

}  // namespace

GroupQuant GptqGroupQuant(const float* x, int64_t n, int bits, bool sym) {
  const int32_t maxq = MaxCode(bits);
  float xmin, xmax;
  MinMax(x, n, &xmin, &xmax);
  xmin = std::min(xmin, 0.0f);
  xmax = std::max(xmax, 0.0f);
  if (sym) {
    xmax = std::max(std::fabs(xmin), xmax);
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin == 0.0f && xmax == 0.0f) {
    xmin = -1.0f;
    xmax = 1.0f;
  }
  GroupQuant g;
  g.scale = (xmax - xmin) / static_cast<float>(maxq);
  if (sym) {
    g.zero = (maxq + 1) / 2;
  } else {
    // −xmin ≥ 0 and −xmin/scale ≤ maxq up to rounding, so the int conversion is safe.
    g.zero = ClampToInt(RoundHalfEven(-xmin / g.scale), 0, maxq);
  }
  return g;
}

GroupQuant AwqGroupQuant(const float* x, int64_t n, int bits) {
  const int32_t maxq = MaxCode(bits);
  float xmin, xmax;
  MinMax(x, n, &xmin, &xmax);
  GroupQuant g;
  g.scale = std::max(xmax - xmin, 1e-5f) / static_cast<float>(maxq);
  // zeros = (−round(min/scale)).clamp(0, maxq); −round(v) == round(−v) for half-even.
  g.zero = ClampToInt(-RoundHalfEven(xmin / g.scale), 0, maxq);
  return g;
}

int32_t QuantizeToCode(float x, GroupQuant g, int32_t maxq) {
  const float r = RoundHalfEven(x / g.scale) + static_cast<float>(g.zero);
  if (std::isnan(r)) return std::clamp(g.zero, int32_t{0}, maxq);
  return ClampToInt(r, 0, maxq);
}

float DequantizeCode(int32_t q, GroupQuant g) { return g.scale * static_cast<float>(q - g.zero); }

}  // namespace gpt2q
