// The mean squared output change of a linear layer from the Gram matrix of its
// inputs: mean over tokens t and outputs o of (x_t·(W' − W)_oᵀ)², without
// multiplying the inputs again (AWQ's loss for the scale groups whose compared
// module is the linear alone).
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace gpt2q {

// Returns Σ_o d_o·G·d_oᵀ · gram_scale / (n_rows·rows) with D = w_new − w
// ([rows, cols] row-major each) and G = gram [cols, cols] (symmetric, row-major),
// i.e. ‖X·Dᵀ‖² / (n_rows·rows) when gram·gram_scale = XᵀX over n_rows rows.
// (HessianAccumulator's H = (2/N)·XᵀX gives gram_scale = N/2.) D·G is one sgemm
// per fixed chunk of rows (single-threaded OpenBLAS), partial sums added in
// chunk order: the result does not depend on the thread count.
double GramOutputLoss(const float* w, const float* w_new, int64_t rows, int64_t cols, const std::vector<float>& gram,
                      double gram_scale, int64_t n_rows, ThreadPool& pool);

}  // namespace gpt2q
