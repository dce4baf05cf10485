// QuantizeModel: applies a method to the tensors a scope selects, in packed or
// simulate mode, and measures each tensor's quantization error.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "calib/windows.h"
#include "core/thread_pool.h"
#include "model/weights.h"
#include "quant/quant_spec.h"

namespace gpt2q {

// Error of one quantized tensor: original vs dequantized values.
struct TensorStats {
  std::string name;
  std::string format;   // what it is stored in after quantization
  int64_t rows = 0, cols = 0;
  double mse = 0;       // mean squared error
  double sqnr_db = 0;   // 10·log10(Σx² / Σ(x − x')²); +inf when exact
  double max_abs_err = 0;
  int64_t bytes = 0;    // stored bytes after quantization
};

// A block's distillation loss (zeroquant:lkd=1): the MSE of the block's
// outputs against the fp32 block's over every calibration window, with the
// round-to-nearest weights before and the trained weights after.
struct DistillationStats {
  int64_t block = 0;
  double loss_before = 0, loss_after = 0;
  int64_t steps = 0;
};

struct QuantizeReport {
  std::vector<TensorStats> tensors;
  double seconds = 0;                 // wall time of quantization
  std::vector<std::string> notes;     // e.g. what is stored twice
  std::vector<std::string> skipped;   // selected, but the format cannot store them (see notes)
  std::vector<DistillationStats> distillation;  // one per distilled block; empty for other methods
};

// Quantizes `weights` in place. Matrices are quantized in [out, in] orientation
// (row-wise, group-wise and block-wise formats run along the input dimension).
// Vectors (biases, LayerNorms, wpe) are only touched by scope all-params, and
// always as quantize-dequantize to fp32 (no kernel multiplies them).
// A tied embedding/head selected as a whole stays one matrix serving both; when
// the scope selects only one side, the two are untied and the note says so.
//
// A calibrated method (NeedsCalibration(spec)) first quantizes the block
// linears the scope selects from `calibration` (null: an error naming the
// method if it needs activations), reporting progress per block (or finer:
// see CalibrateArgs) and, through `progress_detail`, a line of what it is
// doing; the rest follows the rules above with the method's format.
// One-tensor methods ignore `calibration`.
Result<QuantizeReport> QuantizeModel(ModelWeights& weights, const QuantSpec& spec,
                                     const Scope& scope, QuantMode mode, ThreadPool& pool,
                                     const CalibrationWindows* calibration = nullptr,
                                     const std::function<void(int64_t done, int64_t total)>& progress = {},
                                     const std::function<void(const std::string& detail)>& progress_detail = {});

// A matrix quantized by QuantizeTensor, and its error against the input values.
struct QuantizedTensor {
  std::shared_ptr<WeightMatrix> matrix;
  TensorStats stats;
};

// Quantizes `values` [rows, cols] (row-major, [out, in]) into `format` with
// `params`; in simulate mode returns the dequantized values as an fp32 matrix.
// Errors name `name`.
Result<QuantizedTensor> QuantizeTensor(const std::string& name, const std::vector<float>& values,
                                       int64_t rows, int64_t cols, const FormatTraits& format,
                                       const FormatParams& params, QuantMode mode, ThreadPool& pool);

// Returns the [rows, cols] row-major fp32 copy of `m` (dequantized).
std::vector<float> DequantizeAll(const WeightMatrix& m, ThreadPool& pool);

}  // namespace gpt2q
