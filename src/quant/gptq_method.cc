// RunGptq: sequential GPTQ over the calibration replay.
#include "quant/gptq_method.h"

#include <array>
#include <cmath>
#include <sstream>
#include <cstring>
#include <memory>
#include <string>

#include "calib/replay.h"
#include "core/aligned_buffer.h"
#include "formats/fp32_matrix.h"
#include "formats/int_group.h"
#include "quant/calibrated_tensor.h"
#include "quant/gptq_solver.h"
#include "quant/hessian.h"

namespace gpt2q {
namespace {

constexpr std::array<BlockLinear, kBlockLinears> kLinears = {BlockLinear::kAttnCAttn, BlockLinear::kAttnCProj,
                                                             BlockLinear::kMlpCFc, BlockLinear::kMlpCProj};

std::string LinearName(int64_t block, BlockLinear which) {
  return "h." + std::to_string(block) + "." + BlockLinearName(which) + ".weight";
}

// An fp32 [out, in] matrix owning a copy of `values`.
std::shared_ptr<WeightMatrix> OwnedFp32(const std::vector<float>& values, int64_t rows, int64_t cols) {
  auto buffer = std::make_shared<AlignedBuffer>(values.size() * sizeof(float));
  std::memcpy(buffer->data(), values.data(), values.size() * sizeof(float));
  const float* data = buffer->as<float>();
  return std::make_shared<Fp32Matrix>(data, rows, cols, Fp32Layout::kOutIn, std::move(buffer));
}

bool IsWhole(double v) { return std::isfinite(v) && v == std::floor(v); }

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

FormatParams GptqToFormat(const FormatParams& p) {
  return {{"bits", p.at("bits")}, {"group", p.at("group")}, {"sym", p.at("sym")}};
}

Status ValidateGptq(const FormatParams& p) {
  GPT2Q_RETURN_IF_ERROR(ParseIntGroupOptions("method gptq", GptqToFormat(p)).status());
  const double act_order = p.at("act_order"), damp = p.at("damp"), block = p.at("block");
  if (act_order != 0 && act_order != 1) {
    return Status::Error("method gptq: option act_order=" + Num(act_order) + ": expected 0 or 1");
  }
  if (!std::isfinite(damp) || damp < 0) {
    return Status::Error("method gptq: option damp=" + Num(damp) + ": expected a finite number >= 0");
  }
  if (!IsWhole(block) || block < 1 || block > (1 << 30)) {
    return Status::Error("method gptq: option block=" + Num(block) + ": expected a whole number of columns >= 1");
  }
  return OkStatus();
}

Status RunGptq(const CalibrateArgs& args, QuantizeReport* report, std::vector<GptqLayerLog>* log) {
  ModelWeights& weights = *args.weights;
  ThreadPool& pool = *args.pool;
  const FormatParams& p = args.spec->params;
  GPT2Q_RETURN_IF_ERROR(ValidateGptq(p));
  GptqOptions options;
  options.bits = static_cast<int>(p.at("bits"));
  options.group = static_cast<int64_t>(p.at("group"));
  options.sym = p.at("sym") != 0;
  options.act_order = p.at("act_order") != 0;
  options.damp = static_cast<float>(p.at("damp"));
  options.block = static_cast<int64_t>(p.at("block"));
  GPT2Q_RETURN_IF_ERROR(ValidateGptqOptions(options));
  if (args.windows == nullptr) {
    return Status::Error("method " + args.spec->ToString() + " is calibrated: it needs calibration text (--calib)");
  }
  IntGroupOptions format_options;
  format_options.bits = options.bits;
  format_options.group = options.group;
  format_options.sym = options.sym;
  const CalibrationWindows& windows = *args.windows;
  const int64_t n_layer = weights.config.n_layer;
  BlockReplay replay(weights, windows, pool);
  double total_error = 0;
  int64_t total_dead = 0;
  for (int64_t b = 0; b < n_layer; ++b) {
    BlockWeights& block = weights.blocks[b];
    std::array<std::shared_ptr<WeightMatrix>, kBlockLinears> packed;
    for (BlockLinear which : kLinears) {
      const std::string name = LinearName(b, which);
      if (!args.scope->Selects(name, ParamKind::kLinear)) continue;
      std::shared_ptr<WeightMatrix>& m = BlockLinearMatrix(block, which);
      const int64_t rows = m->rows(), cols = m->cols();
      HessianAccumulator hessian(cols);
      BlockHooks hooks;
      hooks.on_linear_input = [&](BlockLinear seen, const float* x, int64_t n_rows, int64_t n_cols) {
        // One sample per token row: reference_calib.json's gptq_layer_error is
        // 256× (= L) smaller than with one sample per window, i.e. its gptq.py
        // saw 2-D [tokens, in] inputs. The scale of H changes no decision.
        if (seen == which) hessian.Add(x, n_rows, n_rows, pool);
      };
      hooks.stop_after = which;  // the rest of the block is not needed for this H
      replay.Run(block, &hooks, nullptr);
      const std::vector<float> original = DequantizeAll(*m, pool);
      GPT2Q_ASSIGN_OR_RETURN(GptqResult result, GptqQuantize(name, original.data(), rows, cols,
                                                             hessian.Symmetric(), options, pool));
      std::vector<int32_t> codes(result.codes.begin(), result.codes.end());
      auto matrix = IntGroupMatrix::FromGroupQuant(rows, cols, format_options, result.params.data(), codes.data());
      if (!matrix.ok()) return Status::Error(name + ": " + matrix.message());
      QuantizedTensor q = FinishCalibratedTensor(name, original, std::move(matrix).value(), args.mode, pool);
      // The rest of the calibration sees the dequantized values in both modes.
      m = args.mode == QuantMode::kSimulate ? q.matrix : OwnedFp32(DequantizeAll(*q.matrix, pool), rows, cols);
      packed[static_cast<int>(which)] = q.matrix;
      report->tensors.push_back(q.stats);
      total_error += result.layer_error;
      total_dead += result.dead_columns;
      if (log != nullptr) log->push_back({b, which, result.layer_error, result.dead_columns});
    }
    if (b + 1 < n_layer) replay.Advance(block);
    for (BlockLinear which : kLinears) {
      if (packed[static_cast<int>(which)]) BlockLinearMatrix(block, which) = packed[static_cast<int>(which)];
    }
    if (args.progress) args.progress(b + 1, n_layer);
  }
  report->notes.push_back("gptq: " + std::to_string(windows.n) + " calibration windows of " +
                          std::to_string(windows.len) + " tokens; summed layer error (gptq.py's) " +
                          std::to_string(total_error) +
                          (total_dead > 0 ? "; " + std::to_string(total_dead) + " dead input channels zeroed" : ""));
  return OkStatus();
}

Status CalibrateGptq(const CalibrateArgs& args, QuantizeReport* report) { return RunGptq(args, report, nullptr); }

}  // namespace gpt2q
