// DistillBlock: Adam on a block's fake-quantized linear weights against the
// fp32 block's outputs.
#include "calib/block_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "calib/block_backprop.h"
#include "core/aligned_buffer.h"

namespace gpt2q {
namespace {

// Rows per task of the loss, values per task of Adam's update: fixed, so that
// results do not depend on the thread count.
constexpr int64_t kLossRowsPerTask = 64;
constexpr int64_t kAdamValuesPerTask = 16384;

// Returns Σ (out − target)² over rows [rows, C] (per-row sums in double, then
// added in row order), and writes dout = scale·(out − target) when not null.
double SquaredError(const float* out, const float* target, int64_t rows, int64_t C, float* dout, float scale,
                    std::vector<double>& row_sums, ThreadPool& pool) {
  row_sums.assign(static_cast<size_t>(rows), 0.0);
  const int64_t tasks = (rows + kLossRowsPerTask - 1) / kLossRowsPerTask;
  pool.ParallelFor(tasks, [&](int64_t t) {
    const int64_t r1 = std::min(rows, (t + 1) * kLossRowsPerTask);
    for (int64_t r = t * kLossRowsPerTask; r < r1; ++r) {
      double sum = 0;
      for (int64_t i = r * C; i < (r + 1) * C; ++i) {
        const float d = out[i] - target[i];
        sum += double(d) * d;
        if (dout != nullptr) dout[i] = scale * d;
      }
      row_sums[r] = sum;
    }
  });
  double total = 0;
  for (double s : row_sums) total += s;
  return total;
}

// The mini-batch order: windows taken from an endless sequence of seeded
// Fisher–Yates permutations of 0..n−1.
class WindowOrder {
 public:
  WindowOrder(int64_t n, uint64_t seed) : rng_(seed), order_(static_cast<size_t>(n)) {}

  int64_t Next() {
    if (pos_ == 0) {
      for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
      for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[rng_() % (i + 1)]);
    }
    const int64_t w = order_[pos_];
    pos_ = (pos_ + 1) % order_.size();
    return w;
  }

 private:
  std::mt19937_64 rng_;  // fully specified by the standard: the same sequence everywhere
  std::vector<int64_t> order_;
  size_t pos_ = 0;
};

std::string Num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", v);
  return buffer;
}

}  // namespace

Result<DistillResult> DistillBlock(const GPT2Config& config, const BlockWeights& block,
                                   const std::array<bool, kBlockLinears>& train, const float* inputs,
                                   const float* targets, int64_t n_windows, int64_t len,
                                   const DistillOptions& options, const FakeQuantizer& quantize,
                                   ThreadPool& pool, const DistillProgress& progress) {
  if (options.steps < 1) return Status::Error("distillation: steps " + std::to_string(options.steps) + " must be >= 1");
  if (options.batch < 1 || options.batch > n_windows) {
    return Status::Error("distillation: mini-batch of " + std::to_string(options.batch) +
                         " windows; expected 1 to the " + std::to_string(n_windows) + " calibration windows");
  }
  if (!(options.lr > 0) || !std::isfinite(options.lr)) {
    return Status::Error("distillation: learning rate " + Num(options.lr) + "; expected a finite number > 0");
  }
  if (block.mlp_act_scale.data != nullptr) {
    return Status::Error("distillation: the block has a GELU scale (mlp.act_scale); expected a plain GPT-2 block");
  }
  const int64_t C = config.n_embd, B = options.batch, rows_per_batch = B * len;

  // Master fp32 weights [out, in]; the forward multiplies the fake-quantized
  // copies of the trained ones, the others as they are.
  std::array<std::vector<float>, kBlockLinears> master, quantized, grad, adam_m, adam_v;
  BlockTensors t;
  t.ln_1_weight = block.ln_1_weight.data;
  t.ln_1_bias = block.ln_1_bias.data;
  t.ln_2_weight = block.ln_2_weight.data;
  t.ln_2_bias = block.ln_2_bias.data;
  std::array<float*, kBlockLinears> dw{};
  for (int k = 0; k < kBlockLinears; ++k) {
    const WeightMatrix& m = *BlockLinearMatrix(block, static_cast<BlockLinear>(k));
    const int64_t rows = m.rows(), cols = m.cols();
    master[k].resize(static_cast<size_t>(rows * cols));
    pool.ParallelFor(rows, [&](int64_t r) { m.DequantizeRow(r, master[k].data() + r * cols); });
    t.bias[k] = BlockLinearBias(const_cast<BlockWeights&>(block), static_cast<BlockLinear>(k)).data;
    if (train[k]) {
      quantized[k].resize(master[k].size());
      grad[k].resize(master[k].size());
      adam_m[k].assign(master[k].size(), 0.0f);
      adam_v[k].assign(master[k].size(), 0.0f);
      t.w[k] = quantized[k].data();
      dw[k] = grad[k].data();
    } else {
      t.w[k] = master[k].data();
    }
  }
  auto fake_quantize = [&]() -> Status {
    for (int k = 0; k < kBlockLinears; ++k) {
      if (!train[k]) continue;
      const WeightMatrix& m = *BlockLinearMatrix(block, static_cast<BlockLinear>(k));
      GPT2Q_RETURN_IF_ERROR(quantize(master[k].data(), m.rows(), m.cols(), quantized[k].data()));
    }
    return OkStatus();
  };

  BlockActivations acts;
  std::vector<double> row_sums;
  // MSE of the current student over every window, a mini-batch at a time.
  auto full_loss = [&]() {
    double sum = 0;
    for (int64_t w0 = 0; w0 < n_windows; w0 += B) {
      const int64_t count = std::min(B, n_windows - w0);
      BlockForwardTrain(config, t, inputs + w0 * len * C, count, len, acts, pool);
      sum += SquaredError(acts.out(), targets + w0 * len * C, count * len, C, nullptr, 0.0f, row_sums, pool);
    }
    return sum / (static_cast<double>(n_windows * len) * static_cast<double>(C));
  };

  DistillResult result;
  GPT2Q_RETURN_IF_ERROR(fake_quantize());
  result.loss_before = full_loss();

  AlignedBuffer x_batch(static_cast<size_t>(rows_per_batch * C) * sizeof(float));
  AlignedBuffer t_batch(static_cast<size_t>(rows_per_batch * C) * sizeof(float));
  AlignedBuffer dout(static_cast<size_t>(rows_per_batch * C) * sizeof(float));
  WindowOrder order(n_windows, options.seed);
  const double count = static_cast<double>(rows_per_batch) * static_cast<double>(C);
  const size_t window_bytes = static_cast<size_t>(len * C) * sizeof(float);
  for (int64_t step = 1; step <= options.steps; ++step) {
    for (int64_t i = 0; i < B; ++i) {
      const int64_t w = order.Next();
      std::memcpy(x_batch.as<float>() + i * len * C, inputs + w * len * C, window_bytes);
      std::memcpy(t_batch.as<float>() + i * len * C, targets + w * len * C, window_bytes);
    }
    if (step > 1) GPT2Q_RETURN_IF_ERROR(fake_quantize());
    BlockForwardTrain(config, t, x_batch.as<float>(), B, len, acts, pool);
    // L = Σ(out − target)²/count, so dL/dout = 2(out − target)/count.
    const double loss = SquaredError(acts.out(), t_batch.as<float>(), rows_per_batch, C, dout.as<float>(),
                                     static_cast<float>(2.0 / count), row_sums, pool) / count;
    if (!std::isfinite(loss)) {
      return Status::Error("distillation: the loss is " + Num(loss) + " at step " + std::to_string(step) +
                           " (learning rate " + Num(options.lr) + " too high?)");
    }
    result.step_loss.push_back(loss);
    // Straight-through: the gradient for the fake-quantized weights updates the masters.
    BlockBackward(config, t, acts, dout.as<float>(), dw, nullptr, pool);
    const float beta1 = static_cast<float>(options.beta1), beta2 = static_cast<float>(options.beta2);
    const double bc1 = 1.0 - std::pow(options.beta1, double(step));
    const double bc2 = 1.0 - std::pow(options.beta2, double(step));
    const float step_size = static_cast<float>(options.lr / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float eps = static_cast<float>(options.eps);
    for (int k = 0; k < kBlockLinears; ++k) {
      if (!train[k]) continue;
      float* p = master[k].data();
      float* m = adam_m[k].data();
      float* v = adam_v[k].data();
      const float* g = grad[k].data();
      const int64_t n = static_cast<int64_t>(master[k].size());
      pool.ParallelFor((n + kAdamValuesPerTask - 1) / kAdamValuesPerTask, [&](int64_t task) {
        const int64_t i1 = std::min(n, (task + 1) * kAdamValuesPerTask);
        for (int64_t i = task * kAdamValuesPerTask; i < i1; ++i) {
          m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
          v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
          p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
        }
      });
    }
    if (progress) progress(step, options.steps, loss);
  }
  GPT2Q_RETURN_IF_ERROR(fake_quantize());
  result.loss_after = full_loss();
  for (int k = 0; k < kBlockLinears; ++k) {
    if (train[k]) result.weights[k] = std::move(master[k]);
  }
  return result;
}

}  // namespace gpt2q
