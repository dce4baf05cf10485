// HessianAccumulator: tiled ssyrk/sgemm over the upper triangle of H.
#include "quant/hessian.h"

#include <cblas.h>

#include <algorithm>

#include "core/check.h"

namespace gpt2q {
namespace {

// Side of one tile of H that a task computes: large enough for BLAS to run
// near its peak, small enough that gpt2's 768-wide inputs give 6 tasks.
constexpr int64_t kTile = 256;

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t n_in) : n_in_(n_in), upper_(n_in * n_in, 0.0f) {
  GPT2Q_CHECK(n_in >= 1);
}

void HessianAccumulator::Add(const float* x, int64_t n_rows, int64_t n_samples, ThreadPool& pool) {
  GPT2Q_CHECK(n_samples >= 1 && n_rows >= 0);
  const int64_t total = n_samples_ + n_samples;
  // gptq.py: H *= N/(N+n) then H += (sqrt(2/(N+n))·X)ᵀ(sqrt(2/(N+n))·X).
  const float beta = static_cast<float>(static_cast<double>(n_samples_) / static_cast<double>(total));
  const float alpha = static_cast<float>(2.0 / static_cast<double>(total));
  n_samples_ = total;
  const int64_t n = n_in_;
  const int64_t n_tiles = (n + kTile - 1) / kTile;
  std::vector<std::pair<int64_t, int64_t>> tiles;  // (row tile, column tile), column ≥ row
  for (int64_t bi = 0; bi < n_tiles; ++bi) {
    for (int64_t bj = bi; bj < n_tiles; ++bj) tiles.emplace_back(bi, bj);
  }
  pool.ParallelFor(static_cast<int64_t>(tiles.size()), [&](int64_t t) {
    const int64_t i0 = tiles[t].first * kTile, j0 = tiles[t].second * kTile;
    const int64_t mi = std::min(kTile, n - i0), mj = std::min(kTile, n - j0);
    float* c = upper_.data() + i0 * n + j0;
    if (n_rows == 0) {  // only the rescaling
      for (int64_t i = 0; i < mi; ++i) {
        for (int64_t j = 0; j < mj; ++j) c[i * n + j] *= beta;
      }
      return;
    }
    if (i0 == j0) {
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<blasint>(mi), static_cast<blasint>(n_rows),
                  alpha, x + i0, static_cast<blasint>(n), beta, c, static_cast<blasint>(n));
    } else {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<blasint>(mi), static_cast<blasint>(mj),
                  static_cast<blasint>(n_rows), alpha, x + i0, static_cast<blasint>(n), x + j0,
                  static_cast<blasint>(n), beta, c, static_cast<blasint>(n));
    }
  });
}

std::vector<float> HessianAccumulator::Symmetric() const {
  std::vector<float> h(upper_);
  const int64_t n = n_in_;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) h[j * n + i] = h[i * n + j];
  }
  return h;
}

}  // namespace gpt2q
