// The quantization options shared by perplexity, generate, bench, quantize and
// compare: --quant SPEC, --scope, --include, --skip, --mode.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/status.h"
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
  std::string scope;  // scope label
  std::string mode;
  QuantizeReport report;
  ModelMemory memory;
};

// Checks the options (spec, scope, mode) without touching a model, so that
// commands fail on bad arguments before any work starts.
Status ValidateQuantOptions(const QuantOptions& options);

// Quantizes `weights` as the options say (nothing for an empty --quant) and
// measures its memory afterwards.
Result<AppliedQuantization> ApplyQuantOptions(const QuantOptions& options, ModelWeights& weights,
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
