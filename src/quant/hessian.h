// GPTQ's Hessian of one linear layer: H = (2/N) Σ x·xᵀ over the calibration
// rows x at the layer's input, accumulated batch by batch (gptq.py add_batch).
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace gpt2q {

// Accumulates H [n_in, n_in] in fp32. N counts *samples* as gptq.py does: one
// sample per calibration sequence (window), however many token rows it has,
// so H = (2/N_samples) Σ_tokens x·xᵀ. The scale of H does not change GPTQ's
// decisions (damping is relative to mean diag H); it sets the size of the
// printed layer error.
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t n_in);

  int64_t n_in() const { return n_in_; }
  int64_t n_samples() const { return n_samples_; }

  // Adds `n_rows` input rows x [n_rows, n_in] (row-major, row stride n_in) that
  // make up `n_samples` ≥ 1 samples: H ← H·N/(N+n) + (2/(N+n))·XᵀX, N += n.
  // The work is split into fixed tiles of H, each computed by one task with
  // single-threaded OpenBLAS (ssyrk on the diagonal, sgemm elsewhere), so the
  // result does not depend on the pool's thread count.
  void Add(const float* x, int64_t n_rows, int64_t n_samples, ThreadPool& pool);

  // Returns H as a full symmetric [n_in, n_in] row-major matrix (all zeros
  // before the first Add).
  std::vector<float> Symmetric() const;

 private:
  int64_t n_in_;
  int64_t n_samples_ = 0;
  std::vector<float> upper_;  // [n_in, n_in]; only the upper triangle is kept
};

}  // namespace gpt2q
