// Causal attention forward (keeping P) and backward for one (sequence, head).
#include "kernels/attention_backward.h"

#include <cblas.h>

#include <cmath>

#include "core/scratch_buffer.h"
#include "kernels/elementwise.h"

namespace gpt2q {

void CausalAttentionForwardTrain(const AttentionTrainArgs& a, float* probs, float* out, int64_t out_stride) {
  const int64_t T = a.n_tokens, D = a.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  // S = Q·Kᵀ/√D, then each row's causal softmax (the masked part set to 0).
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, a.q, a.qkv_stride, a.k, a.qkv_stride,
              0.0f, probs, T);
  for (int64_t t = 0; t < T; ++t) {
    float* row = probs + t * T;
    SoftmaxRow(row, t + 1);
    for (int64_t j = t + 1; j < T; ++j) row[j] = 0.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, probs, T, a.v, a.qkv_stride, 0.0f, out,
              out_stride);
}

void CausalAttentionBackward(const AttentionTrainArgs& a, const float* probs, const float* dout,
                             int64_t dout_stride, float* dq, float* dk, float* dv, int64_t dqkv_stride) {
  const int64_t T = a.n_tokens, D = a.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  thread_local ScratchBuffer scratch;
  float* ds = scratch.Get<float>(T * T);
  // dV = Pᵀ·dout; dP = dout·Vᵀ (into ds).
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, probs, T, dout, dout_stride, 0.0f, dv,
              dqkv_stride);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, dout, dout_stride, a.v, a.qkv_stride,
              0.0f, ds, T);
  // Softmax backward per row, over the visible keys j ≤ t; masked entries get 0.
  for (int64_t t = 0; t < T; ++t) {
    const float* p = probs + t * T;
    float* row = ds + t * T;
    double dot = 0;
    for (int64_t j = 0; j <= t; ++j) dot += double(p[j]) * row[j];
    const float d = static_cast<float>(dot);
    for (int64_t j = 0; j <= t; ++j) row[j] = p[j] * (row[j] - d);
    for (int64_t j = t + 1; j < T; ++j) row[j] = 0.0f;
  }
  // dQ = dS·K/√D, dK = dSᵀ·Q/√D.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, scale, ds, T, a.k, a.qkv_stride, 0.0f, dq,
              dqkv_stride);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, scale, ds, T, a.q, a.qkv_stride, 0.0f, dk,
              dqkv_stride);
}

}  // namespace gpt2q
