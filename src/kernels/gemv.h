// fp32 matrix-vector kernels for decode: they stream the weights once, where
// SGEMM would pack them first. AVX2 + FMA bodies, scalar references for tests.
#pragma once

#include <cstdint>

namespace gpt2q {

// y[o] = Σ_i x[i] · w[o * ld + i] for o in [0, rows): weight rows contiguous
// ([out, in] layout, ld ≥ cols).
void GemvRows(const float* w, int64_t rows, int64_t cols, int64_t ld, const float* x, float* y);
void GemvRowsRef(const float* w, int64_t rows, int64_t cols, int64_t ld, const float* x, float* y);

// y[o] += Σ_i x[i] · w[i * ld + o] for o in [0, width): whole weight rows
// streamed contiguously, y kept in L1 (width of a few thousand floats).
void GemvColumnsAccumulate(const float* w, int64_t in, int64_t width, int64_t ld, const float* x, float* y);
void GemvColumnsAccumulateRef(const float* w, int64_t in, int64_t width, int64_t ld, const float* x, float* y);

}  // namespace gpt2q
