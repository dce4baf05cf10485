// Causal scaled dot-product attention for one (sequence, head) and a block of
// queries, reading keys and values from the KV cache.
#pragma once

#include <cstdint>

namespace gpt2q {

struct AttentionArgs {
  const float* q;        // query rows, row i at q + i * q_stride (head_dim values)
  int64_t q_stride;
  const float* k;        // keys [n_keys_total, head_dim], contiguous
  const float* v;        // values [n_keys_total, head_dim], contiguous
  float* out;            // output rows, row i at out + i * out_stride
  int64_t out_stride;
  int64_t n_queries;     // rows in this block
  int64_t first_query_pos;  // absolute position of query 0; it sees keys 0..pos
  int64_t head_dim;
};

// out_i = softmax(q_i · K[0..p_i]ᵀ / √head_dim) · V[0..p_i], p_i = first_query_pos + i.
// Uses SGEMM for both products; scratch comes from a per-thread, tracked
// ScratchBuffer that grows to n_queries × n_keys floats and is kept.
void CausalAttention(const AttentionArgs& args);

// The same in double-precision scalar code, for tests.
void CausalAttentionRef(const AttentionArgs& args);

}  // namespace gpt2q
