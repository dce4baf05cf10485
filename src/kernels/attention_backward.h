// Causal multi-head attention for training: a forward pass that keeps the
// attention probabilities, and its backward pass. One call handles one
// (sequence, head) with all T of its queries at positions 0..T−1 (no KV cache:
// each calibration window is its own sequence). Callers run the B·H
// (sequence, head) pairs as independent tasks; each writes only its own
// rows and head columns, so results do not depend on the thread count.
#pragma once

#include <cstdint>

namespace gpt2q {

// One (sequence, head): row t of q, k, v, out (and their gradients) is at
// base + t·stride; D = head_dim values each. P is [T, T] row-major.
struct AttentionTrainArgs {
  const float* q;
  const float* k;
  const float* v;
  int64_t qkv_stride;  // 3C for GPT-2's fused c_attn output
  int64_t n_tokens;    // T
  int64_t head_dim;    // D
};

// out_t = Σ_{j≤t} P_tj·v_j with P_t = softmax(q_t·k_jᵀ/√D over j ≤ t); writes
// P [T, T] (zero above the diagonal) and out rows (stride out_stride).
// Same arithmetic as kernels/attention.h's CausalAttention (SGEMM, SoftmaxRow).
void CausalAttentionForwardTrain(const AttentionTrainArgs& a, float* probs, float* out, int64_t out_stride);

// Given dout (rows at dout + t·dout_stride) and the forward's P:
//   dP = dout·Vᵀ, dV = Pᵀ·dout, dS_tj = P_tj·(dP_tj − Σ_i P_ti·dP_ti),
//   dQ = dS·K/√D, dK = dSᵀ·Q/√D;
// overwrites dq, dk, dv (rows at base + t·dqkv_stride, D values each).
// Scratch: a per-thread, tracked ScratchBuffer of T·T floats.
void CausalAttentionBackward(const AttentionTrainArgs& a, const float* probs, const float* dout,
                             int64_t dout_stride, float* dq, float* dk, float* dv, int64_t dqkv_stride);

}  // namespace gpt2q
