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
};

// Adds --quant, --scope, --include, --skip and --mode to `cmd`.
void AddQuantOptions(CLI::App* cmd, QuantOptions* options);

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
};

// Checks the options (spec, scope, mode) without touching a model, so that
// commands fail on bad arguments before any work starts.
Status ValidateQuantOptions(const QuantOptions& options);

// Returns an error when `loaded` is a gpt2q quantized checkpoint: `what`
// (e.g. "--quant q4_0") needs the fp32 model, and would otherwise quantize
// already-quantized weights again or compare the model with itself.
Status RefuseQuantizedCheckpoint(const LoadedModel& loaded, const std::string& what);

// Quantizes the weights of `loaded` as the options say and measures their
// memory afterwards. Without --quant the label is what the checkpoint records
// (a gpt2q quantized checkpoint) or fp32; --quant on a quantized checkpoint is
// refused (RefuseQuantizedCheckpoint).
Result<AppliedQuantization> ApplyQuantOptions(const QuantOptions& options, LoadedModel& loaded,
                                              ThreadPool& pool);

// Returns one JSON row per quantized tensor: name, format, shape, bytes, MSE,
// SQNR (null when infinite) and max |error|.
nlohmann::json TensorStatsJson(const QuantizeReport& report);

// Returns the quantization's fields for --json output (its tensors included).
nlohmann::json QuantizationJson(const AppliedQuantization& applied);

// Prints the "model / quant / weights" header lines of perplexity and quantize.
void PrintQuantizationSummary(const std::string& model_name, const AppliedQuantization& applied);

// Returns the --help text listing every method with its options and defaults.
std::string MethodsHelp();

}  // namespace gpt2q
