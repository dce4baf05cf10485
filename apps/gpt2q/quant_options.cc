// --quant/--scope/--include/--skip/--mode: parsing, applying and reporting.
#include "quant_options.h"

#include <algorithm>
#include <optional>

#include <fmt/core.h>

#include "calib/windows.h"
#include "common.h"
#include "progress.h"
#include "text/text_file.h"

namespace gpt2q {

std::string MethodsHelp() {
  std::string help = "quantization method METHOD[:key=value,...] (default: none, fp32). Methods:";
  for (const MethodInfo& m : MethodTable()) {
    help += fmt::format("\n  {}: {}", m.name, m.description);
    if (m.calibrate != nullptr) {
      help += fmt::format("\n      (calibrated{}: --calib, --calib-samples, --calib-len; with scope linear the tied "
                          "embedding/head is rounded to nearest with the method's grid, per-token activations)",
                          m.calibrated_when != nullptr ? " with lkd=1" : "");
    }
    for (const MethodParam& p : m.params) {
      if (p.choices.empty()) {
        help += fmt::format("\n      {}={:g}  {}", p.key, p.default_value, p.help);
      } else {
        std::string words;
        for (auto w : p.choices) words += (words.empty() ? "" : "|") + std::string(w);
        help += fmt::format("\n      {}={} (default {})  {}", p.key, words,
                            p.choices[static_cast<size_t>(p.default_value)], p.help);
      }
    }
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
  cmd->add_option("--calib", options->calib,
                  "calibration text (UTF-8) for calibrated methods (smoothquant, gptq, awq, w8a8:act=static, "
                  "zeroquant:lkd=1); "
                  "default: data/tinyshakespeare-calib.txt with the shipped model (its training text), "
                  "data/wikitext2-valid.txt with any other. Other methods ignore it")
      ->group("Quantization");
  cmd->add_option("--calib-samples", options->calib_samples,
                  "calibration windows N, evenly spaced over the text (calibrated methods only)")
      ->capture_default_str()
      ->group("Quantization");
  cmd->add_option("--calib-len", options->calib_len,
                  "tokens per calibration window L (default min(512, n_ctx); calibrated methods only)")
      ->group("Quantization");
}

CalibrationSource CalibrationSourceOf(const LoadedModel& loaded) {
  return {loaded.tokenizer.get(), loaded.shipped, true};
}

Result<std::string> DefaultCalibrationPath(bool shipped_model) {
  GPT2Q_ASSIGN_OR_RETURN(std::string data_dir, FindDataDir());
  return data_dir + (shipped_model ? "/tinyshakespeare-calib.txt" : "/wikitext2-valid.txt");
}

namespace {

// Reads, checks and tokenizes the calibration text, and cuts its windows.
Result<CalibrationWindows> LoadCalibration(const QuantOptions& options, const CalibrationSource& source,
                                           int64_t n_ctx, CalibrationUsed* used) {
  if (source.tokenizer == nullptr) return Status::Error("calibration needs the model's tokenizer");
  std::string path = options.calib;
  if (path.empty()) {
    GPT2Q_ASSIGN_OR_RETURN(path, DefaultCalibrationPath(source.shipped_model));
  }
  GPT2Q_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  if (text.empty()) return Status::Error(path + ": the calibration text is empty");
  const int64_t len = options.calib_len > 0 ? options.calib_len : std::min<int64_t>(512, n_ctx);
  GPT2Q_ASSIGN_OR_RETURN(CalibrationWindows windows,
                         MakeCalibrationWindows(source.tokenizer->Encode(text), options.calib_samples, len,
                                                n_ctx, path));
  *used = {path, windows.n, windows.len, windows.text_tokens};
  return windows;
}

}  // namespace

Status ValidateQuantOptions(const QuantOptions& options) {
  if (!options.quant.empty()) GPT2Q_RETURN_IF_ERROR(ParseQuantSpec(options.quant).status());
  if (options.calib_samples < 1) {
    return Status::Error(fmt::format("--calib-samples {} must be >= 1", options.calib_samples));
  }
  if (options.calib_len < 0) return Status::Error(fmt::format("--calib-len {} must be >= 1", options.calib_len));
  GPT2Q_RETURN_IF_ERROR(MakeScope(options.scope, options.include, options.skip, 0).status());
  return ParseQuantMode(options.mode).status();
}

Status RefuseQuantizedCheckpoint(const LoadedModel& loaded, const std::string& what) {
  if (!loaded.recorded) return OkStatus();
  const QuantizedCheckpointInfo& r = *loaded.recorded;
  // GGUF and transformers + bitsandbytes inputs record their kind as the scope.
  const std::string kind = r.scope == "gguf"     ? "GGUF file"
                           : r.scope == "hf-bnb" ? "transformers + bitsandbytes checkpoint"
                                                 : "gpt2q quantized checkpoint";
  return Status::Error(fmt::format("{}: is a {} ({}, scope {}, {} mode); {} needs an fp32, F16 or BF16 "
                                   "checkpoint, not quantized weights (use the original model)",
                                   loaded.name, kind, r.quant, r.scope, r.mode, what));
}

Result<AppliedQuantization> ApplyQuantOptions(const QuantOptions& options, LoadedModel& loaded,
                                              ThreadPool& pool, const CalibrationSource& calib) {
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
    std::optional<CalibrationWindows> windows;
    if (NeedsCalibration(spec)) {
      GPT2Q_ASSIGN_OR_RETURN(windows,
                             LoadCalibration(options, calib, weights.config.n_ctx, &applied.calibration));
    }
    std::optional<ProgressBar> bar;
    if (windows && calib.progress) bar.emplace("calibrate " + spec.ToString(), weights.config.n_layer);
    auto progress = [&bar](int64_t done, int64_t total) {
      if (!bar) return;
      bar->SetTotal(total);  // per block, or per step (zeroquant:lkd=1)
      bar->Update(done);
    };
    auto detail = [&bar](const std::string& line) {
      if (bar) bar->SetDetail(line);
    };
    GPT2Q_ASSIGN_OR_RETURN(applied.report, QuantizeModel(weights, spec, scope, mode, pool,
                                                         windows ? &*windows : nullptr, progress, detail));
    if (bar) bar->Finish();
    if (windows) {
      const CalibrationUsed& c = applied.calibration;
      applied.report.notes.push_back(fmt::format("calibration: {} ({} windows of {} tokens from {} tokens)",
                                                 c.file, c.samples, c.len, c.text_tokens));
    }
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

nlohmann::json DistillationJson(const QuantizeReport& report) {
  if (report.distillation.empty()) return nullptr;
  nlohmann::json blocks = nlohmann::json::array();
  for (const DistillationStats& d : report.distillation) {
    blocks.push_back({{"block", d.block}, {"loss_before", d.loss_before}, {"loss_after", d.loss_after},
                      {"steps", d.steps}});
  }
  return blocks;
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
          {"calibration", a.calibration.file.empty()
                              ? nlohmann::json()
                              : nlohmann::json{{"file", a.calibration.file},
                                               {"samples", a.calibration.samples},
                                               {"len", a.calibration.len},
                                               {"text_tokens", a.calibration.text_tokens}}},
          {"distillation", DistillationJson(a.report)},
          {"tensors", tensors}};
}

void PrintQuantizationSummary(const std::string& model_name, const AppliedQuantization& applied) {
  fmt::print("model      {}\n", model_name);
  fmt::print("quant      {} (scope {}, {} mode{})\n", applied.spec, applied.scope, applied.mode,
             applied.source == "checkpoint" ? "; recorded in the checkpoint" : "");
  fmt::print("weights    {} ({:.1f}% smaller than fp32, {:.2f}x); HF footprint {} bytes\n",
             FormatBytes(applied.memory.weights_bytes), 100 * applied.memory.compression(),
             applied.memory.ratio(), applied.memory.hf_footprint_bytes);
  if (!applied.calibration.file.empty()) {
    const CalibrationUsed& c = applied.calibration;
    fmt::print("calib      {}: N {} windows x L {} tokens (T {} tokens)\n", c.file, c.samples, c.len, c.text_tokens);
  }
}

}  // namespace gpt2q
