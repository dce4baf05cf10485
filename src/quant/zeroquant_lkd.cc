// zeroquant's options, and RunZeroquantLkd: the distillation over the replay.
#include "quant/zeroquant_lkd.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "calib/replay.h"
#include "core/aligned_buffer.h"
#include "formats/format.h"
#include "quant/calibrated_tensor.h"

namespace gpt2q {
namespace {

bool IsWhole(double v) { return std::isfinite(v) && v == std::floor(v); }

std::string Num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", v);
  return buffer;
}

std::string LinearName(int64_t block, BlockLinear which) {
  return "h." + std::to_string(block) + "." + BlockLinearName(which) + ".weight";
}

}  // namespace

FormatParams ZeroquantToFormat(const FormatParams& p) {
  return {{"group", p.at("group")}, {"bits", p.at("bits")}, {"w8a8", 1}};
}

Status ValidateZeroquant(const FormatParams& p) {
  const double lkd = p.at("lkd"), steps = p.at("lkd_steps"), batch = p.at("lkd_batch"), lr = p.at("lkd_lr");
  if (lkd != 0 && lkd != 1) return Status::Error("method zeroquant: option lkd=" + Num(lkd) + ": expected 0 or 1");
  if (!IsWhole(steps) || steps < 1) {
    return Status::Error("method zeroquant: option lkd_steps=" + Num(steps) + ": expected a whole number >= 1");
  }
  if (!IsWhole(batch) || batch < 1) {
    return Status::Error("method zeroquant: option lkd_batch=" + Num(batch) +
                         ": expected a whole number of windows >= 1");
  }
  if (!std::isfinite(lr) || lr <= 0) {
    return Status::Error("method zeroquant: option lkd_lr=" + Num(lr) + ": expected a finite number > 0");
  }
  return OkStatus();
}

bool ZeroquantNeedsCalibration(const FormatParams& p) { return p.at("lkd") != 0; }

Status RunZeroquantLkd(const CalibrateArgs& args, QuantizeReport* report, std::vector<LkdBlockLog>* log) {
  ModelWeights& weights = *args.weights;
  ThreadPool& pool = *args.pool;
  const FormatParams& p = args.spec->params;
  GPT2Q_RETURN_IF_ERROR(ValidateZeroquant(p));
  if (args.windows == nullptr) {
    return Status::Error("method " + args.spec->ToString() + " is calibrated: it needs calibration text (--calib)");
  }
  const CalibrationWindows& windows = *args.windows;
  DistillOptions options;
  options.steps = static_cast<int64_t>(p.at("lkd_steps"));
  options.batch = static_cast<int64_t>(p.at("lkd_batch"));
  options.lr = p.at("lkd_lr");
  if (options.batch > windows.n) {
    return Status::Error("method " + args.spec->ToString() + ": lkd_batch=" + std::to_string(options.batch) +
                         " windows per step, but the calibration has " + std::to_string(windows.n) +
                         " windows (--calib-samples)");
  }
  GPT2Q_ASSIGN_OR_RETURN(const FormatTraits* format, FindFormat(args.spec->method->format));
  const FormatParams stored = ZeroquantToFormat(p);
  FormatParams fake = stored;
  fake["w8a8"] = 0;  // the same codes and scales; only the multiply differs
  // The student's weights: quantized into int8-group and dequantized, exactly
  // the values the stored matrix will hold.
  const FakeQuantizer quantize = [&](const float* w, int64_t rows, int64_t cols, float* wq) -> Status {
    auto m = format->quantize(w, rows, cols, fake, pool);
    if (!m.ok()) return Status::Error("zeroquant lkd: " + m.message());
    const WeightMatrix& q = *m.value();
    pool.ParallelFor(rows, [&](int64_t r) { q.DequantizeRow(r, wq + r * cols); });
    return OkStatus();
  };

  const int64_t n_layer = weights.config.n_layer, C = weights.config.n_embd;
  BlockReplay replay(weights, windows, pool);
  AlignedBuffer block_inputs(static_cast<size_t>(replay.rows() * C) * sizeof(float));
  std::string summary;
  for (int64_t b = 0; b < n_layer; ++b) {
    BlockWeights& block = weights.blocks[b];
    std::array<bool, kBlockLinears> train{};
    bool any = false;
    for (int k = 0; k < kBlockLinears; ++k) {
      train[k] = args.scope->Selects(LinearName(b, static_cast<BlockLinear>(k)), ParamKind::kLinear);
      any |= train[k];
    }
    if (!any) {
      if (b + 1 < n_layer) replay.Advance(block);
      if (args.progress) args.progress((b + 1) * options.steps, n_layer * options.steps);
      continue;
    }
    // Inputs of block b, then the fp32 block's outputs (the targets, and the
    // next block's inputs: every block learns from the teacher's states).
    std::memcpy(block_inputs.data(), replay.inputs(), block_inputs.size());
    replay.Advance(block);
    const DistillProgress progress = [&](int64_t step, int64_t steps, double loss) {
      if (args.progress_detail) {
        char line[96];
        std::snprintf(line, sizeof(line), "block %lld/%lld step %lld/%lld loss %.4g", static_cast<long long>(b + 1),
                      static_cast<long long>(n_layer), static_cast<long long>(step),
                      static_cast<long long>(steps), loss);
        args.progress_detail(line);
      }
      if (args.progress) args.progress(b * steps + step, n_layer * steps);
    };
    auto result = DistillBlock(weights.config, block, train, block_inputs.as<float>(), replay.inputs(), windows.n,
                               windows.len, options, quantize, pool, progress);
    if (!result.ok()) return Status::Error("h." + std::to_string(b) + ": " + result.message());
    for (int k = 0; k < kBlockLinears; ++k) {
      if (!train[k]) continue;
      const BlockLinear which = static_cast<BlockLinear>(k);
      const std::string name = LinearName(b, which);
      std::shared_ptr<WeightMatrix>& m = BlockLinearMatrix(block, which);
      const int64_t rows = m->rows(), cols = m->cols();
      const std::vector<float> original = DequantizeAll(*m, pool);
      auto packed = format->quantize(result->weights[k].data(), rows, cols, stored, pool);
      if (!packed.ok()) return Status::Error(name + ": " + packed.message());
      QuantizedTensor q = FinishCalibratedTensor(name, original, std::move(packed).value(), args.mode, pool);
      m = q.matrix;
      report->tensors.push_back(q.stats);
    }
    report->distillation.push_back({b, result->loss_before, result->loss_after, options.steps});
    summary += (summary.empty() ? "" : ", ") + std::string("h.") + std::to_string(b) + " " +
               Num(result->loss_before) + " -> " + Num(result->loss_after);
    if (log != nullptr) log->push_back({b, result->loss_before, result->loss_after, std::move(result->step_loss)});
  }
  report->notes.push_back("zeroquant lkd: " + std::to_string(options.steps) + " Adam steps of " +
                          std::to_string(options.batch) + " windows per block, lr " + Num(options.lr) +
                          "; block output MSE vs fp32 before -> after: " + summary);
  return OkStatus();
}

Status CalibrateZeroquant(const CalibrateArgs& args, QuantizeReport* report) {
  return RunZeroquantLkd(args, report, nullptr);
}

}  // namespace gpt2q
