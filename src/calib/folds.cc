// Folding per-channel scales into LayerNorms, linear weights and the GELU output.
#include "calib/folds.h"

#include <cstring>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/check.h"
#include "formats/fp32_matrix.h"

namespace gpt2q {
namespace {

// Returns a span over an owned copy of `values` (n floats), kept in weights.owners.
FloatSpan OwnedSpan(ModelWeights& weights, const std::vector<float>& values) {
  auto buffer = std::make_shared<AlignedBuffer>(values.size() * sizeof(float));
  std::memcpy(buffer->data(), values.data(), values.size() * sizeof(float));
  FloatSpan span{buffer->as<float>(), static_cast<int64_t>(values.size())};
  weights.owners.push_back(std::move(buffer));
  return span;
}

// Returns m's values [rows, cols] (dequantized) in an aligned buffer.
std::shared_ptr<AlignedBuffer> Values(const WeightMatrix& m, ThreadPool& pool) {
  auto buffer = std::make_shared<AlignedBuffer>(static_cast<size_t>(m.rows() * m.cols()) * sizeof(float));
  float* out = buffer->as<float>();
  pool.ParallelFor(m.rows(), [&](int64_t r) { m.DequantizeRow(r, out + r * m.cols()); });
  return buffer;
}

std::shared_ptr<WeightMatrix> Fp32Of(std::shared_ptr<AlignedBuffer> buffer, int64_t rows, int64_t cols) {
  const float* data = buffer->as<float>();
  return std::make_shared<Fp32Matrix>(data, rows, cols, Fp32Layout::kOutIn, std::move(buffer));
}

// W[o, j] = op(W[o, j], s_j) for every row.
template <typename Op>
void ScaleColumns(std::shared_ptr<WeightMatrix>& m, const float* s, ThreadPool& pool, Op op) {
  const int64_t rows = m->rows(), cols = m->cols();
  std::shared_ptr<AlignedBuffer> buffer = Values(*m, pool);
  float* w = buffer->as<float>();
  pool.ParallelFor(rows, [&](int64_t r) {
    for (int64_t j = 0; j < cols; ++j) w[r * cols + j] = op(w[r * cols + j], s[j]);
  });
  m = Fp32Of(std::move(buffer), rows, cols);
}

}  // namespace

void DivideLayerNorm(ModelWeights& weights, FloatSpan& gamma, FloatSpan& beta, const float* s) {
  GPT2Q_CHECK(gamma.size == beta.size);
  std::vector<float> g(gamma.data, gamma.data + gamma.size), b(beta.data, beta.data + beta.size);
  for (int64_t j = 0; j < gamma.size; ++j) {
    g[j] = g[j] / s[j];
    b[j] = b[j] / s[j];
  }
  gamma = OwnedSpan(weights, g);
  beta = OwnedSpan(weights, b);
}

void MultiplyInputs(std::shared_ptr<WeightMatrix>& m, const float* s, ThreadPool& pool) {
  ScaleColumns(m, s, pool, [](float w, float v) { return w * v; });
}

void DivideInputs(std::shared_ptr<WeightMatrix>& m, const float* s, ThreadPool& pool) {
  ScaleColumns(m, s, pool, [](float w, float v) { return w / v; });
}

void DivideOutputs(ModelWeights& weights, std::shared_ptr<WeightMatrix>& m, FloatSpan& bias, int64_t first,
                   int64_t count, const float* s, ThreadPool& pool) {
  const int64_t rows = m->rows(), cols = m->cols();
  GPT2Q_CHECK(first >= 0 && first + count <= rows && bias.size == rows);
  std::shared_ptr<AlignedBuffer> buffer = Values(*m, pool);
  float* w = buffer->as<float>();
  pool.ParallelFor(count, [&](int64_t k) {
    for (int64_t j = 0; j < cols; ++j) w[(first + k) * cols + j] /= s[k];
  });
  m = Fp32Of(std::move(buffer), rows, cols);
  std::vector<float> b(bias.data, bias.data + bias.size);
  for (int64_t k = 0; k < count; ++k) b[first + k] /= s[k];
  bias = OwnedSpan(weights, b);
}

void DivideGeluOutput(ModelWeights& weights, BlockWeights& b, const float* s) {
  const int64_t n = b.mlp_c_proj->cols();
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    v[j] = b.mlp_act_scale.data != nullptr ? b.mlp_act_scale.data[j] * s[j] : s[j];
  }
  b.mlp_act_scale = OwnedSpan(weights, v);
}

void FoldGeluScale(BlockWeights& b, ThreadPool& pool) {
  if (b.mlp_act_scale.data == nullptr) return;
  DivideInputs(b.mlp_c_proj, b.mlp_act_scale.data, pool);
  b.mlp_act_scale = FloatSpan{};
}

}  // namespace gpt2q
