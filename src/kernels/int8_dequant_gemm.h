// Weight-only multiplication for compressed formats: rows of W are decoded
// tile by tile into a per-thread fp32 scratch and multiplied with SGEMM, so no
// full fp32 copy of W ever exists.
#pragma once

#include <cstdint>
#include <functional>

#include "core/thread_pool.h"

namespace gpt2q {

// Writes rows [row0, row0 + count) of W, decoded, into out [count, cols].
using DecodeRowsFn = std::function<void(int64_t row0, int64_t count, float* out)>;

// y[n, rows] = x[n, cols] · Wᵀ with W decoded by `decode` in output-row chunks
// of OutputChunk(n, rows) rows (shape-dependent only: same result for any
// thread count). Peak extra memory: one chunk of fp32 per thread, in a
// tracked per-thread ScratchBuffer that is kept for later calls.
void DecodeTileMultiply(const float* x, int64_t n, int64_t rows, int64_t cols, float* y,
                        ThreadPool& pool, const DecodeRowsFn& decode);

}  // namespace gpt2q
