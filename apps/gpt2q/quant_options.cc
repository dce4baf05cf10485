// --quant/--scope/--include/--skip/--mode: parsing, applying and reporting.
#include "quant_options.h"

#include <fmt/core.h>

#include "common.h"

namespace gpt2q {

std::string MethodsHelp() {
  std::string help = "quantization method METHOD[:key=value,...] (default: none, fp32). Methods:";
  for (const MethodInfo& m : MethodTable()) {
    help += fmt::format("\n  {}: {}", m.name, m.description);
    for (const MethodParam& p : m.params) help += fmt::format("\n      {}={:g}  {}", p.key, p.default_value, p.help);
  }
  return help;
}

void AddQuantOptions(CLI::App* cmd, QuantOptions* options) {
  cmd->add_option("--quant", options->quant, MethodsHelp())->group("Quantization");
  std::string presets;
  for (auto p : ScopePresets()) presets += (presets.empty() ? "" : ", ") + std::string(p);
  cmd->add_option("--scope", options->scope, "which tensors: " + presets)
      ->capture_default_str()
      ->group("Quantization");
  cmd->add_option("--include", options->include,
                  "also quantize tensors matching these globs (e.g. 'h.*.attn.c_attn.weight')")
      ->group("Quantization");
  cmd->add_option("--skip", options->skip, "never quantize tensors matching these globs")
      ->group("Quantization");
  cmd->add_option("--mode", options->mode,
                  "packed: real low-bit storage and kernels; simulate: quantize-dequantize to fp32 "
                  "(as the notebooks; memory does not shrink)")
      ->capture_default_str()
      ->group("Quantization");
}

Status ValidateQuantOptions(const QuantOptions& options) {
  if (!options.quant.empty()) GPT2Q_RETURN_IF_ERROR(ParseQuantSpec(options.quant).status());
  GPT2Q_RETURN_IF_ERROR(MakeScope(options.scope, options.include, options.skip, 0).status());
  return ParseQuantMode(options.mode).status();
}

Status RefuseQuantizedCheckpoint(const LoadedModel& loaded, const std::string& what) {
  if (!loaded.recorded) return OkStatus();
  return Status::Error(fmt::format(
      "{}: is a gpt2q quantized checkpoint ({}, scope {}, {} mode); {} needs an fp32, F16 or BF16 "
      "checkpoint, not quantized weights (use the original model)",
      loaded.name, loaded.recorded->quant, loaded.recorded->scope, loaded.recorded->mode, what));
}

Result<AppliedQuantization> ApplyQuantOptions(const QuantOptions& options, LoadedModel& loaded,
                                              ThreadPool& pool) {
  AppliedQuantization applied;
  ModelWeights& weights = loaded.model->mutable_weights();
  GPT2Q_ASSIGN_OR_RETURN(QuantMode mode, ParseQuantMode(options.mode));
  applied.mode = std::string(QuantModeName(mode));
  applied.spec = "fp32";
  applied.scope = "-";
  if (loaded.recorded && options.quant.empty()) {
    applied.spec = loaded.recorded->quant;
    applied.scope = loaded.recorded->scope;
    applied.mode = loaded.recorded->mode;
    applied.source = "checkpoint";
  }
  if (!options.quant.empty()) {
    GPT2Q_RETURN_IF_ERROR(RefuseQuantizedCheckpoint(loaded, "--quant " + options.quant));
    applied.source = "applied";
    GPT2Q_ASSIGN_OR_RETURN(QuantSpec spec, ParseQuantSpec(options.quant));
    GPT2Q_ASSIGN_OR_RETURN(Scope scope,
                           MakeScope(options.scope, options.include, options.skip, weights.config.n_layer));
    GPT2Q_ASSIGN_OR_RETURN(applied.report, QuantizeModel(weights, spec, scope, mode, pool));
    if (applied.report.tensors.empty() && applied.report.skipped.empty()) {
      return Status::Error("scope '" + scope.Label() + "' selects no tensor of this model");
    }
    applied.spec = spec.ToString();
    applied.scope = scope.Label();
  }
  applied.memory = ComputeMemory(weights);
  return applied;
}

nlohmann::json TensorStatsJson(const QuantizeReport& report) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorStats& t : report.tensors) {
    tensors.push_back({{"name", t.name},
                       {"format", t.format},
                       {"shape", {t.rows, t.cols}},
                       {"bytes", t.bytes},
                       {"mse", t.mse},
                       {"sqnr_db", std::isfinite(t.sqnr_db) ? nlohmann::json(t.sqnr_db) : nlohmann::json()},
                       {"max_abs_err", t.max_abs_err}});
  }
  return tensors;
}

nlohmann::json QuantizationJson(const AppliedQuantization& a) {
  const nlohmann::json tensors = TensorStatsJson(a.report);
  return {{"quant", a.spec},
          {"scope", a.scope},
          {"mode", a.mode},
          {"quant_source", a.source},
          {"weights_bytes", a.memory.weights_bytes},
          {"fp32_bytes", a.memory.fp32_bytes},
          {"compression", a.memory.compression()},
          {"compression_ratio", a.memory.ratio()},
          {"hf_footprint_bytes", a.memory.hf_footprint_bytes},
          {"quantize_s", a.report.seconds},
          {"notes", a.report.notes},
          {"tensors", tensors}};
}

void PrintQuantizationSummary(const std::string& model_name, const AppliedQuantization& applied) {
  fmt::print("model      {}\n", model_name);
  fmt::print("quant      {} (scope {}, {} mode{})\n", applied.spec, applied.scope, applied.mode,
             applied.source == "checkpoint" ? "; recorded in the checkpoint" : "");
  fmt::print("weights    {} ({:.1f}% smaller than fp32, {:.2f}x); HF footprint {} bytes\n",
             FormatBytes(applied.memory.weights_bytes), 100 * applied.memory.compression(),
             applied.memory.ratio(), applied.memory.hf_footprint_bytes);
}

}  // namespace gpt2q
