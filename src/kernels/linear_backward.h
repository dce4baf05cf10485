// A linear layer y = x·Wᵀ + b on an fp32 weight W [out, in], forward and
// backward, for training (ZeroQuant's layer-by-layer distillation). The model's
// inference path multiplies through WeightMatrix::Multiply instead.
//
// Shape letters: N rows (tokens), I = in_features, O = out_features.
// Each function splits its work into fixed chunks (of rows of x, or of rows of
// W) that do not depend on the pool's thread count, and every chunk's sums run
// in one fixed order, so results are identical for any number of threads.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"

namespace gpt2q {

// y [N, O] = x [N, I] · Wᵀ + bias (bias [O], may be null). SGEMM per chunk of rows.
void LinearForward(const float* x, int64_t n, int64_t in, const float* w, const float* bias, int64_t out,
                   float* y, ThreadPool& pool);

// dx [N, I] = dy [N, O] · W (W [O, I]): the input gradient; overwrites dx.
void LinearBackwardInput(const float* dy, int64_t n, int64_t out, const float* w, int64_t in, float* dx,
                         ThreadPool& pool);

// dw [O, I] = dyᵀ · x, summed over the N rows: the weight gradient; overwrites
// dw. Each chunk of output rows of dw reduces over all N rows itself.
void LinearBackwardWeight(const float* dy, int64_t n, int64_t out, const float* x, int64_t in, float* dw,
                          ThreadPool& pool);

// Plain-loop references of the three (double accumulation), for tests.
void LinearForwardRef(const float* x, int64_t n, int64_t in, const float* w, const float* bias, int64_t out,
                      float* y);
void LinearBackwardInputRef(const float* dy, int64_t n, int64_t out, const float* w, int64_t in, float* dx);
void LinearBackwardWeightRef(const float* dy, int64_t n, int64_t out, const float* x, int64_t in, float* dw);

}  // namespace gpt2q
