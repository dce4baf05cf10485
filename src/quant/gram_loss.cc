// GramOutputLoss: tr(D·G·Dᵀ) in row chunks.
#include "quant/gram_loss.h"

#include <cblas.h>

#include <algorithm>

#include "core/check.h"

namespace gpt2q {
namespace {

constexpr int64_t kRowChunk = 64;

}  // namespace

double GramOutputLoss(const float* w, const float* w_new, int64_t rows, int64_t cols, const std::vector<float>& gram,
                      double gram_scale, int64_t n_rows, ThreadPool& pool) {
  GPT2Q_CHECK(static_cast<int64_t>(gram.size()) == cols * cols && rows >= 1 && n_rows >= 1);
  const int64_t n_chunks = (rows + kRowChunk - 1) / kRowChunk;
  std::vector<double> partial(n_chunks, 0.0);
  pool.ParallelFor(n_chunks, [&](int64_t chunk) {
    const int64_t r0 = chunk * kRowChunk, nr = std::min(kRowChunk, rows - r0);
    std::vector<float> d(nr * cols), e(nr * cols);
    for (int64_t i = 0; i < nr * cols; ++i) d[i] = w_new[r0 * cols + i] - w[r0 * cols + i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(nr), static_cast<blasint>(cols),
                static_cast<blasint>(cols), 1.0f, d.data(), static_cast<blasint>(cols), gram.data(),
                static_cast<blasint>(cols), 0.0f, e.data(), static_cast<blasint>(cols));
    double s = 0;
    for (int64_t i = 0; i < nr * cols; ++i) s += double(d[i]) * double(e[i]);
    partial[chunk] = s;
  });
  double total = 0;
  for (double p : partial) total += p;
  return total * gram_scale / (static_cast<double>(n_rows) * static_cast<double>(rows));
}

}  // namespace gpt2q
