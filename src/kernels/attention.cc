// Causal attention: scores by SGEMM, masked row softmax, weighted sum by SGEMM.
#include "kernels/attention.h"

#include <cblas.h>

#include <cmath>
#include <vector>

#include "core/scratch_buffer.h"
#include "kernels/elementwise.h"

namespace gpt2q {

void CausalAttention(const AttentionArgs& a) {
  const int64_t n_keys = a.first_query_pos + a.n_queries;  // keys the last query sees
  // Per-thread scratch: the pool's tasks run on long-lived threads, and the
  // scores of one block (≤ 64 × n_ctx floats) are reused across calls.
  thread_local ScratchBuffer scores;
  float* s = scores.Get<float>(a.n_queries * n_keys);
  const float scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a.n_queries, n_keys, a.head_dim, scale, a.q,
              a.q_stride, a.k, a.head_dim, 0.0f, s, n_keys);
  for (int64_t i = 0; i < a.n_queries; ++i) {
    float* row = s + i * n_keys;
    const int64_t visible = a.first_query_pos + i + 1;
    SoftmaxRow(row, visible);
    for (int64_t j = visible; j < n_keys; ++j) row[j] = 0.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a.n_queries, a.head_dim, n_keys, 1.0f, s,
              n_keys, a.v, a.head_dim, 0.0f, a.out, a.out_stride);
}

void CausalAttentionRef(const AttentionArgs& a) {
  for (int64_t i = 0; i < a.n_queries; ++i) {
    const float* q = a.q + i * a.q_stride;
    const int64_t visible = a.first_query_pos + i + 1;
    std::vector<double> w(visible);
    double max = -INFINITY;
    for (int64_t j = 0; j < visible; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < a.head_dim; ++d) dot += double(q[d]) * a.k[j * a.head_dim + d];
      w[j] = dot / std::sqrt(double(a.head_dim));
      max = std::max(max, w[j]);
    }
    double sum = 0;
    for (auto& x : w) sum += (x = std::exp(x - max));
    for (int64_t d = 0; d < a.head_dim; ++d) {
      double acc = 0;
      for (int64_t j = 0; j < visible; ++j) acc += w[j] / sum * a.v[j * a.head_dim + d];
      a.out[i * a.out_stride + d] = static_cast<float>(acc);
    }
  }
}

}  // namespace gpt2q
