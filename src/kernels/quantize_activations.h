// Dynamic per-token int8 quantization of activations, the "vec_dot_type"
// conversion that W8A8 kernels run once per row of x.
#pragma once

#include <cstdint>

#include "kernels/int8_gemm.h"

namespace gpt2q {

// Quantizes x [n, cols] per token row: sa = max|x_t| / 127,
// q = nearbyint(x · (127 / max|x_t|)) (round half to even, as torch.round),
// q = 0 and sa = 0 for an all-zero row. Pads each row with zeros to kpad and
// fills the per-group sums. `out` is (re)allocated for n rows.
void QuantizeActivations(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                         QuantizedActivations* out);

// The scalar reference of QuantizeActivations (same results bit for bit).
void QuantizeActivationsRef(const float* x, int64_t n, int64_t cols, int64_t kpad,
                            int64_t group, QuantizedActivations* out);

// Per token as SmoothQuant's fake_quant: Δ_t = max(max|x_t|, 1e-5) / 127,
// q = nearbyint(x / Δ_t) (a division, round half to even), sa = Δ_t. The
// codes can differ from QuantizeActivations' x · (127 / max) by one where the
// two roundings straddle a half. Padding and sums as above.
void QuantizeActivationsDelta(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                              QuantizedActivations* out);

// The scalar reference of QuantizeActivationsDelta (same results bit for bit).
void QuantizeActivationsDeltaRef(const float* x, int64_t n, int64_t cols, int64_t kpad,
                                 int64_t group, QuantizedActivations* out);

// Quantizes x [n, cols] with one static per-tensor step `delta` > 0 (SmoothQuant
// act=static): q = clamp(nearbyint(x / delta), −127, 127) (a division, round
// half to even), sa = delta for every row. Padding and sums as above.
void QuantizeActivationsStatic(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                               float delta, QuantizedActivations* out);

// The scalar reference of QuantizeActivationsStatic (same results bit for bit).
void QuantizeActivationsStaticRef(const float* x, int64_t n, int64_t cols, int64_t kpad, int64_t group,
                                  float delta, QuantizedActivations* out);

}  // namespace gpt2q
