// Double-precision forward passes of GPT-2's block pieces (LayerNorm,
// tanh-GELU, causal multi-head attention, linear, the whole block) and central
// finite differences, for checking the backward kernels and the block's
// backward pass (tests/model/backward_test.cc, tests/calib/).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace gpt2q::testing {

using Doubles = std::vector<double>;

inline Doubles ToDoubles(const std::vector<float>& v) { return Doubles(v.begin(), v.end()); }

// out[r,:] = (x[r,:] − mean)/sqrt(var + eps)·g + b, n rows of c values.
inline void LayerNormD(const double* x, int64_t n, int64_t c, const double* g, const double* b, double eps,
                       double* out) {
  for (int64_t r = 0; r < n; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < c; ++i) mean += x[r * c + i];
    mean /= double(c);
    for (int64_t i = 0; i < c; ++i) var += (x[r * c + i] - mean) * (x[r * c + i] - mean);
    const double rstd = 1.0 / std::sqrt(var / double(c) + eps);
    for (int64_t i = 0; i < c; ++i) out[r * c + i] = (x[r * c + i] - mean) * rstd * g[i] + b[i];
  }
}

inline double GeluD(double x) {
  return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

// y [n, out] = x [n, in]·wᵀ + bias (w [out, in]; bias may be null).
inline void LinearD(const double* x, int64_t n, int64_t in, const double* w, const double* bias, int64_t out,
                    double* y) {
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias != nullptr ? bias[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) acc += x[r * in + i] * w[o * in + i];
      y[r * out + o] = acc;
    }
  }
}

// Causal attention of B sequences of T tokens: qkv [B·T, 3C] (q | k | v, H
// heads of D = C/H), out [B·T, C].
inline void AttentionD(const double* qkv, int64_t B, int64_t T, int64_t C, int64_t H, double* out) {
  const int64_t D = C / H;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t t = 0; t < T; ++t) {
        const double* q = qkv + (b * T + t) * 3 * C + h * D;
        std::vector<double> s(t + 1);
        double max = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          const double* k = qkv + (b * T + j) * 3 * C + C + h * D;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += q[d] * k[d];
          s[j] = dot / std::sqrt(double(D));
          max = std::max(max, s[j]);
        }
        double sum = 0;
        for (double& v : s) sum += (v = std::exp(v - max));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j <= t; ++j) acc += s[j] / sum * qkv[(b * T + j) * 3 * C + 2 * C + h * D + d];
          out[(b * T + t) * C + h * D + d] = acc;
        }
      }
    }
  }
}

// A block's parameters in double; w[k] is [out, in] in BlockLinear order.
struct BlockD {
  int64_t C = 0, F = 0, H = 0;
  double eps = 1e-5;
  Doubles ln1_w, ln1_b, ln2_w, ln2_b;
  std::array<Doubles, 4> w, bias;
};

// The GPT-2 block on x [B·T, C]: returns its output [B·T, C].
inline Doubles BlockForwardD(const BlockD& p, const Doubles& x, int64_t B, int64_t T) {
  const int64_t N = B * T, C = p.C, F = p.F;
  Doubles a(N * C), qkv(N * 3 * C), att(N * C), y(N * C), x2(N * C), h(N * F), out(N * C);
  LayerNormD(x.data(), N, C, p.ln1_w.data(), p.ln1_b.data(), p.eps, a.data());
  LinearD(a.data(), N, C, p.w[0].data(), p.bias[0].data(), 3 * C, qkv.data());
  AttentionD(qkv.data(), B, T, C, p.H, att.data());
  LinearD(att.data(), N, C, p.w[1].data(), p.bias[1].data(), C, y.data());
  for (int64_t i = 0; i < N * C; ++i) x2[i] = x[i] + y[i];
  LayerNormD(x2.data(), N, C, p.ln2_w.data(), p.ln2_b.data(), p.eps, a.data());
  LinearD(a.data(), N, C, p.w[2].data(), p.bias[2].data(), F, h.data());
  for (double& v : h) v = GeluD(v);
  LinearD(h.data(), N, F, p.w[3].data(), p.bias[3].data(), C, y.data());
  for (int64_t i = 0; i < N * C; ++i) out[i] = x2[i] + y[i];
  return out;
}

// Σ r_i·v_i: the scalar loss whose gradient with respect to v is r.
inline double Dot(const Doubles& r, const Doubles& v) {
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += r[i] * v[i];
  return s;
}

// Central differences (L(v + h·e_i) − L(v − h·e_i))/2h for every i of v.
template <typename Loss>
Doubles NumericGradient(Doubles& v, Loss&& loss, double h = 1e-5) {
  Doubles g(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = loss();
    v[i] = keep - h;
    const double down = loss();
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// ‖a − b‖₂ / ‖b‖₂.
inline double RelativeError(const std::vector<float>& a, const Doubles& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

}  // namespace gpt2q::testing
