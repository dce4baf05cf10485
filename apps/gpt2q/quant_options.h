// The quantization options shared by perplexity, generate, bench, quantize and
// compare: --quant SPEC, --scope, --include, --skip, --mode.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "common.h"
#include "core/thread_pool.h"
#include "model/weights.h"
#include "quant/memory.h"
#include "quant/quantize_model.h"

namespace gpt2q {

struct QuantOptions {
  std::string quant;  // METHOD[:key=value,...]; empty = fp32
  std::string scope = "linear";
  std::vector<std::string> include, skip;
  std::string mode = "packed";
  // Calibration text of calibrated methods (smoothquant, w8a8:act=static):
  // empty = the shipped default (see DefaultCalibrationPath); 0 length = min(512, n_ctx).
  std::string calib;
  int64_t calib_samples = 128;
  int64_t calib_len = 0;
};

// Adds --quant, --scope, --include, --skip, --mode, --calib, --calib-samples
// and --calib-len to `cmd`.
void AddQuantOptions(CLI::App* cmd, QuantOptions* options);

// What calibration needs from the command: the model's tokenizer, and whether
// the model is the shipped one (it picks the default calibration text).
struct CalibrationSource {
  const Tokenizer* tokenizer = nullptr;
  bool shipped_model = false;
  bool progress = true;  // draw a progress bar while calibrating
};

// Returns the calibration source of a loaded model.
CalibrationSource CalibrationSourceOf(const LoadedModel& loaded);

// Returns the default calibration text: data/tinyshakespeare-calib.txt (the
// first 100,000 characters of the shipped model's training text) for the
// shipped model, data/wikitext2-valid.txt for any other.
Result<std::string> DefaultCalibrationPath(bool shipped_model);

// The calibration a quantization used (file empty when none).
struct CalibrationUsed {
  std::string file;
  int64_t samples = 0, len = 0, text_tokens = 0;
};

// What quantizing a model did, for printing.
struct AppliedQuantization {
  std::string spec;   // canonical spec string, "fp32" when none
  std::string scope;  // scope label, "-" when none
  std::string mode;
  // Where the label comes from: "none" (fp32), "applied" (--quant) or
  // "checkpoint" (recorded in the gpt2q quantized checkpoint loaded).
  std::string source = "none";
  QuantizeReport report;
  ModelMemory memory;
  CalibrationUsed calibration;
};

// Checks the options (spec, scope, mode) without touching a model, so that
// commands fail on bad arguments before any work starts.
Status ValidateQuantOptions(const QuantOptions& options);

// Returns an error when `loaded` holds quantized weights (a gpt2q quantized
// checkpoint, a GGUF file or a transformers + bitsandbytes checkpoint): `what`
// (e.g. "--quant q4_0") needs the fp32 model, and would otherwise quantize
// already-quantized weights again or compare the model with itself.
Status RefuseQuantizedCheckpoint(const LoadedModel& loaded, const std::string& what);

// Quantizes the weights of `loaded` as the options say and measures their
// memory afterwards. Without --quant the label is what the checkpoint records
// (a gpt2q quantized checkpoint) or fp32; --quant on a quantized checkpoint is
// refused (RefuseQuantizedCheckpoint). A calibrated method reads and
// tokenizes the calibration text with `calib` (an error without a tokenizer):
// a missing, empty or non-UTF-8 file, or one shorter than one window, is an error.
Result<AppliedQuantization> ApplyQuantOptions(const QuantOptions& options, LoadedModel& loaded,
                                              ThreadPool& pool, const CalibrationSource& calib = {});

// Returns one JSON row per quantized tensor: name, format, shape, bytes, MSE,
// SQNR (null when infinite) and max |error|.
nlohmann::json TensorStatsJson(const QuantizeReport& report);

// Returns one JSON row per distilled block (zeroquant:lkd=1): block,
// loss_before, loss_after (block output MSE against fp32 over the calibration
// windows) and steps; null when the method distilled nothing.
nlohmann::json DistillationJson(const QuantizeReport& report);

// Returns the quantization's fields for --json output (its tensors and
// "distillation" included).
nlohmann::json QuantizationJson(const AppliedQuantization& applied);

// Prints the "model / quant / weights" header lines of perplexity and quantize.
void PrintQuantizationSummary(const std::string& model_name, const AppliedQuantization& applied);

// Returns the --help text listing every method with its options and defaults.
std::string MethodsHelp();

}  // namespace gpt2q
