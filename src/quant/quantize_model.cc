// QuantizeModel: the loop over the model's tensors through ForEachMatrix/ForEachVector.
#include "quant/quantize_model.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "core/aligned_buffer.h"
#include "core/timer.h"
#include "formats/fp32_matrix.h"

namespace gpt2q {
namespace {

// Fills the error fields of `stats` from original and dequantized values.
void MeasureError(const float* original, const float* dequantized, int64_t count, TensorStats& stats) {
  double signal = 0, noise = 0, max_err = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double e = double(original[i]) - double(dequantized[i]);
    signal += double(original[i]) * original[i];
    noise += e * e;
    max_err = std::max(max_err, std::fabs(e));
  }
  stats.mse = noise / static_cast<double>(count);
  stats.max_abs_err = max_err;
  stats.sqnr_db = noise == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal / noise);
}

// Returns an Fp32Matrix ([out, in]) owning a copy of `values`.
std::shared_ptr<WeightMatrix> OwnedFp32(const std::vector<float>& values, int64_t rows, int64_t cols) {
  auto buffer = std::make_shared<AlignedBuffer>(values.size() * sizeof(float));
  std::memcpy(buffer->data(), values.data(), values.size() * sizeof(float));
  const float* data = buffer->as<float>();
  return std::make_shared<Fp32Matrix>(data, rows, cols, Fp32Layout::kOutIn, std::move(buffer));
}

// Returns false for formats of fixed row blocks (llama.cpp's: no options, a
// block size in bytes) that cannot tile a row of `cols`: the K-quants need
// multiples of 256, which the shipped model's 128 columns are not.
bool FitsBlocks(const FormatTraits& format, int64_t cols) {
  const bool fixed_row_blocks = format.block_bytes > 0 && format.param_keys.empty();
  return !fixed_row_blocks || cols % format.block_size == 0;
}

std::string LeftNote(const std::string& name, const FormatTraits& format, int64_t cols) {
  return name + " left in fp32: its rows of " + std::to_string(cols) + " values are not a multiple of " +
         std::string(format.name) + "'s block of " + std::to_string(format.block_size);
}

using Quantized = QuantizedTensor;

}  // namespace

Result<QuantizedTensor> QuantizeTensor(const std::string& name, const std::vector<float>& values,
                                       int64_t rows, int64_t cols, const FormatTraits& format,
                                       const FormatParams& params, QuantMode mode, ThreadPool& pool) {
  auto packed = format.quantize(values.data(), rows, cols, params, pool);
  if (!packed.ok()) return Status::Error(name + ": " + packed.message());
  Quantized out;
  std::vector<float> restored = DequantizeAll(*packed.value(), pool);
  out.stats.name = name;
  out.stats.rows = rows;
  out.stats.cols = cols;
  MeasureError(values.data(), restored.data(), rows * cols, out.stats);
  if (mode == QuantMode::kSimulate) {
    out.matrix = OwnedFp32(restored, rows, cols);
  } else {
    out.matrix = std::shared_ptr<WeightMatrix>(std::move(packed).value().release());
  }
  out.stats.format = out.matrix->format();
  out.stats.bytes = out.matrix->StoredBytes();
  return out;
}

std::vector<float> DequantizeAll(const WeightMatrix& m, ThreadPool& pool) {
  std::vector<float> out(m.rows() * m.cols());
  pool.ParallelFor(m.rows(), [&](int64_t r) { m.DequantizeRow(r, out.data() + r * m.cols()); });
  return out;
}

Result<QuantizeReport> QuantizeModel(ModelWeights& weights, const QuantSpec& spec, const Scope& scope,
                                     QuantMode mode, ThreadPool& pool, const CalibrationWindows* calibration,
                                     const std::function<void(int64_t done, int64_t total)>& progress,
                                     const std::function<void(const std::string& detail)>& progress_detail) {
  GPT2Q_ASSIGN_OR_RETURN(const FormatTraits* format, FindFormat(spec.method->format));
  const FormatParams params = spec.method->to_format_params(spec.params);
  QuantizeReport report;
  Stopwatch watch;

  // Calibrated methods: the block linears first, from the calibration windows.
  std::set<std::string> calibrated;
  if (NeedsCalibration(spec)) {
    CalibrateArgs args;
    args.weights = &weights;
    args.windows = calibration;
    args.spec = &spec;
    args.scope = &scope;
    args.mode = mode;
    args.pool = &pool;
    args.progress = progress;
    args.progress_detail = progress_detail;
    GPT2Q_RETURN_IF_ERROR(spec.method->calibrate(args, &report));
    for (const TensorStats& t : report.tensors) calibrated.insert(t.name);
  }

  // The tied embedding/head: decide before the visitor sees it as "wte.weight".
  std::string already_done;
  if (weights.head_tied()) {
    const bool embedding = scope.Selects("wte.weight", ParamKind::kEmbedding);
    const bool head = scope.Selects("lm_head.weight", ParamKind::kHead);
    if (embedding != head && !FitsBlocks(*format, weights.wte->cols())) {
      const std::string name = embedding ? "wte.weight" : "lm_head.weight";
      report.skipped.push_back(name);
      report.notes.push_back(LeftNote(name, *format, weights.wte->cols()));
      already_done = name;
    } else if (embedding != head) {
      const std::string kept = embedding ? "lm_head.weight" : "wte.weight";
      report.notes.push_back("tied embedding/head untied: " + kept +
                             " stays fp32 beside the quantized copy, so that matrix is stored twice");
      auto& target = embedding ? weights.wte : weights.lm_head;
      std::vector<float> values = DequantizeAll(*target, pool);
      GPT2Q_ASSIGN_OR_RETURN(Quantized q, QuantizeTensor(embedding ? "wte.weight" : "lm_head.weight", values,
                                                         target->rows(), target->cols(), *format, params,
                                                         mode, pool));
      target = q.matrix;
      already_done = q.stats.name;
      report.tensors.push_back(q.stats);
    } else if (embedding) {
      report.notes.push_back("tied embedding/head: one quantized matrix serves both");
    }
  }

  Status status;
  ForEachMatrix(weights, [&](const std::string& name, ParamKind kind, std::shared_ptr<WeightMatrix>& m) {
    if (!status.ok() || name == already_done || calibrated.count(name) != 0) return;
    if (weights.head_tied() && kind == ParamKind::kEmbedding) {
      if (!scope.Selects("wte.weight", kind) || !scope.Selects("lm_head.weight", ParamKind::kHead)) return;
    } else if (!scope.Selects(name, kind)) {
      return;
    }
    const bool tied_head = weights.head_tied() && kind == ParamKind::kEmbedding;
    if (!FitsBlocks(*format, m->cols())) {
      report.skipped.push_back(name);
      report.notes.push_back(LeftNote(name, *format, m->cols()));
      return;
    }
    std::vector<float> values = DequantizeAll(*m, pool);
    auto q = QuantizeTensor(name, values, m->rows(), m->cols(), *format, params, mode, pool);
    if (!q.ok()) {
      status = q.status();
      return;
    }
    m = q->matrix;
    if (tied_head) weights.lm_head = m;
    report.tensors.push_back(q->stats);
  });
  GPT2Q_RETURN_IF_ERROR(status);

  ForEachVector(weights, [&](const std::string& name, ParamKind kind, FloatSpan& span) {
    if (!status.ok() || !scope.Selects(name, kind)) return;
    // A vector is a [1, n] tensor (wpe: [n_ctx, n_embd]); always simulated.
    const int64_t cols = kind == ParamKind::kPosition ? weights.config.n_embd : span.size;
    const int64_t rows = span.size / cols;
    if (!FitsBlocks(*format, cols)) {
      report.skipped.push_back(name);
      report.notes.push_back(LeftNote(name, *format, cols));
      return;
    }
    std::vector<float> values(span.data, span.data + span.size);
    auto q = QuantizeTensor(name, values, rows, cols, *format, params, QuantMode::kSimulate, pool);
    if (!q.ok()) {
      status = q.status();
      return;
    }
    std::shared_ptr<WeightMatrix> owner = q->matrix;
    span.data = static_cast<const Fp32Matrix&>(*owner).data();
    weights.owners.push_back(owner);
    report.tensors.push_back(q->stats);
  });
  GPT2Q_RETURN_IF_ERROR(status);
  if (mode == QuantMode::kPacked) {
    bool any_vector = false;
    for (const auto& t : report.tensors) any_vector |= (t.rows == 1 || t.name == "wpe.weight");
    if (any_vector) {
      report.notes.push_back("biases, LayerNorms and wpe are quantize-dequantized to fp32 (no kernel uses them packed)");
    }
  }
  report.seconds = watch.Seconds();
  return report;
}

}  // namespace gpt2q
