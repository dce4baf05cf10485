// Log-sum-exp and log-softmax statistics over a logits row, vectorised, with
// partial sums carried in double so a 50k-entry row keeps ~1e-9 relative accuracy.
#pragma once

#include <cstdint>

namespace gpt2q {

// Returns log Σ_i exp(x_i) for n ≥ 1 finite values.
double LogSumExp(const float* x, int64_t n);
// The same in plain double arithmetic, for tests.
double LogSumExpRef(const float* x, int64_t n);

// Returns KL(p ‖ q) = Σ_i p_i (log p_i − log q_i) for p = softmax(x), q = softmax(y),
// given lse_x = LogSumExp(x) and lse_y = LogSumExp(y).
double KlDivergence(const float* x, double lse_x, const float* y, double lse_y, int64_t n);
double KlDivergenceRef(const float* x, const float* y, int64_t n);

}  // namespace gpt2q
