// FinishCalibratedTensor: packed or simulated matrix plus its error figures.
#include "quant/calibrated_tensor.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/aligned_buffer.h"
#include "formats/fp32_matrix.h"

namespace gpt2q {

QuantizedTensor FinishCalibratedTensor(const std::string& name, const std::vector<float>& original,
                                       std::unique_ptr<WeightMatrix> packed, QuantMode mode, ThreadPool& pool) {
  const int64_t rows = packed->rows(), cols = packed->cols();
  std::vector<float> restored = DequantizeAll(*packed, pool);
  QuantizedTensor out;
  out.stats.name = name;
  out.stats.rows = rows;
  out.stats.cols = cols;
  double signal = 0, noise = 0, max_err = 0;
  for (int64_t i = 0; i < rows * cols; ++i) {
    const double e = double(original[i]) - double(restored[i]);
    signal += double(original[i]) * original[i];
    noise += e * e;
    max_err = std::max(max_err, std::fabs(e));
  }
  out.stats.mse = noise / static_cast<double>(rows * cols);
  out.stats.max_abs_err = max_err;
  out.stats.sqnr_db = noise == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal / noise);
  if (mode == QuantMode::kSimulate) {
    auto buffer = std::make_shared<AlignedBuffer>(restored.size() * sizeof(float));
    std::memcpy(buffer->data(), restored.data(), restored.size() * sizeof(float));
    const float* data = buffer->as<float>();
    out.matrix = std::make_shared<Fp32Matrix>(data, rows, cols, Fp32Layout::kOutIn, std::move(buffer));
  } else {
    out.matrix = std::shared_ptr<WeightMatrix>(packed.release());
  }
  out.stats.format = out.matrix->format();
  out.stats.bytes = out.matrix->StoredBytes();
  return out;
}

}  // namespace gpt2q
