// gpt2q quantize: quantize a model and write a folder gpt2q loads back and
// evaluates bit-identically (packed mode), or a plain fp32 folder (simulate),
// or, with --export, another program's files: a GGUF for llama.cpp, or a
// transformers + bitsandbytes folder.
// The output is staged beside its path and renamed into place when complete
// (io/staged_output.h): the input and an existing output are never damaged.
#include <filesystem>

#include <fmt/core.h>

#include "commands.h"
#include "core/timer.h"
#include "gguf_app.h"
#include "io/staged_output.h"
#include "model/checkpoint.h"
#include "model/hf_bnb_writer.h"
#include "model/quantized_checkpoint.h"
#include "quant_options.h"

namespace gpt2q {
namespace {

struct QuantizeArgs {
  CommonOptions common;
  ModelOptions model;
  QuantOptions quant;
  std::string out;
  std::string export_kind;  // "" = gpt2q's own folder; "gguf"; "hf-bnb"
  bool force = false;
  bool stats = false;
};

void PrintStats(const QuantizeReport& report) {
  fmt::print("\n{:<28} {:<16} {:>12} {:>12} {:>10} {:>12} {:>10}\n", "tensor", "format", "shape",
             "MSE", "SQNR dB", "max |err|", "bytes");
  for (const TensorStats& t : report.tensors) {
    fmt::print("{:<28} {:<16} {:>12} {:>12.4e} {:>10.2f} {:>12.4e} {:>10}\n", t.name, t.format,
               fmt::format("{}x{}", t.rows, t.cols), t.mse, t.sqnr_db, t.max_abs_err, t.bytes);
  }
}

Status RunQuantize(const QuantizeArgs& args) {
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  if (args.quant.quant.empty()) return Status::Error("--quant SPEC is required (see --help for the methods)");
  GPT2Q_RETURN_IF_ERROR(ValidateQuantOptions(args.quant));
  GPT2Q_ASSIGN_OR_RETURN(QuantMode mode, ParseQuantMode(args.quant.mode));
  // The output is checked (apart from the input, not an existing non-empty
  // folder without --force) before any work, and staged beside its path.
  StagedOutputOptions staging;
  staging.kind = args.export_kind == "gguf" ? OutputKind::kFile : OutputKind::kFolder;
  GPT2Q_ASSIGN_OR_RETURN(staging.inputs, ModelInputPaths(args.model));
  staging.force = args.force;
  GPT2Q_ASSIGN_OR_RETURN(StagedOutput staged, StagedOutput::Begin(args.out, staging));
  const bool hf_bnb = args.export_kind == "hf-bnb";
  QuantOptions quant = args.quant;
  if (hf_bnb) {
    // transformers quantizes every block linear and keeps the tied embedding/head in float16.
    const std::string method = quant.quant.substr(0, quant.quant.find(':'));
    if (method != "llm-int8" && method != "nf4" && method != "fp4") {
      return Status::Error("--export hf-bnb: expected --quant llm-int8, nf4 or fp4 (what bitsandbytes "
                           "stores), got '" + quant.quant + "'");
    }
    if ((quant.scope != "linear" && quant.scope != "no-lm-head") || !quant.include.empty() ||
        !quant.skip.empty() || mode != QuantMode::kPacked) {
      return Status::Error("--export hf-bnb: quantizes every block linear in packed mode and keeps the "
                           "embedding/head in float16, as transformers does: expected --scope linear or "
                           "no-lm-head, no --include/--skip, --mode packed");
    }
    quant.scope = "no-lm-head";
  }
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(args.model, *pool));
  // transformers casts every weight to float16 before bitsandbytes quantizes it.
  if (hf_bnb) GPT2Q_RETURN_IF_ERROR(RoundWeightsToFp16(loaded.model->mutable_weights()));
  GPT2Q_ASSIGN_OR_RETURN(AppliedQuantization applied,
                         ApplyQuantOptions(quant, loaded, *pool, CalibrationSourceOf(loaded)));

  Stopwatch write_watch;
  const ModelWeights& weights = loaded.model->weights();
  const std::string& dir = staged.staging_path();
  std::string layout;
  std::string written = "model.safetensors";  // the file whose size is reported
  if (args.export_kind == "gguf") {
    GPT2Q_RETURN_IF_ERROR(ExportGguf(args.quant, loaded, applied, *pool, dir));
    layout = "GGUF v3 for llama.cpp";
    written = "";
  } else if (hf_bnb) {
    GPT2Q_RETURN_IF_ERROR(SaveHfBnbCheckpoint(weights, dir));
    layout = "Hugging Face transformers + bitsandbytes (fp16 weights quantized; the rest float16)";
  } else if (mode == QuantMode::kSimulate) {
    // Simulated weights are fp32 values: an ordinary Hugging Face checkpoint.
    GPT2Q_RETURN_IF_ERROR(SaveCheckpoint(weights, dir, Dtype::kF32, /*prefixed_names=*/false));
    layout = "plain fp32 (simulate mode: dequantized weights, no memory saved)";
  } else {
    GPT2Q_RETURN_IF_ERROR(SaveQuantizedCheckpoint(weights, dir, {applied.spec, applied.scope, applied.mode}));
    layout = "gpt2q quantized (packed codes and scales)";
  }
  if (!written.empty()) GPT2Q_RETURN_IF_ERROR(WriteTokenizerFiles(loaded, dir));
  GPT2Q_RETURN_IF_ERROR(staged.Commit());
  const double write_s = write_watch.Seconds();
  std::error_code ec;
  const std::string file = written.empty() ? args.out : args.out + "/" + written;
  const int64_t file_bytes = static_cast<int64_t>(std::filesystem::file_size(file, ec));
  if (ec) return Status::Error(file + ": cannot stat: " + ec.message());

  if (args.common.json) {
    nlohmann::json out = {{"model", loaded.name},
                          {"out", args.out},
                          {"layout", !args.export_kind.empty()     ? args.export_kind
                                     : mode == QuantMode::kSimulate ? "fp32"
                                                                    : "gpt2q-quantized"},
                          {"file_bytes", file_bytes},
                          {"write_s", write_s},
                          {"threads", args.common.threads}};
    out.update(QuantizationJson(applied));
    out["write_notes"] = staged.notes();
    if (args.stats) out["stats"] = TensorStatsJson(applied.report);
    PrintJson(out);
    return OkStatus();
  }
  PrintQuantizationSummary(loaded.name, applied);
  fmt::print("quantize_s {:.3f}\n", applied.report.seconds);
  for (const std::string& note : applied.report.notes) fmt::print("note       {}\n", note);
  for (const std::string& note : staged.notes()) fmt::print("note       {}\n", note);
  if (written.empty()) {
    fmt::print("wrote      {} ({}): {} in {:.2f} s\n", args.out, layout, FormatBytes(file_bytes), write_s);
  } else {
    fmt::print("wrote      {} ({}): {} {}, config.json, vocab.json, merges.txt in {:.2f} s\n", args.out,
               layout, written, FormatBytes(file_bytes), write_s);
  }
  if (args.stats) PrintStats(applied.report);
  return OkStatus();
}

}  // namespace

Command AddQuantizeCommand(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "quantize a model and write a folder that gpt2q loads back bit-identically (packed mode); "
      "with --mode simulate, a plain fp32 checkpoint of the dequantized weights");
  AddModelOptions(cmd, &args->model);
  AddQuantOptions(cmd, &args->quant);
  cmd->add_option("--out", args->out,
                  "output folder (a file with --export gguf): created complete or not at all (written beside "
                  "it as .NAME.gpt2q-tmp-PID, then renamed into place); never the input, inside it or around it")
      ->required();
  cmd->add_option("--export", args->export_kind,
                  "write another program's format instead of gpt2q's folder: gguf (a GGUF v3 file for "
                  "llama.cpp; fp32, fp16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k; K-quant rows that are "
                  "not a multiple of 256 fall back to q5_0/q8_0 as llama-quantize does), or hf-bnb (a "
                  "transformers + bitsandbytes folder; --quant llm-int8, nf4 or fp4; every block linear "
                  "quantized from its fp16 weight, the rest stored float16)")
      ->check(CLI::IsMember({"gguf", "hf-bnb"}));
  cmd->add_flag("--force", args->force,
                "replace an existing non-empty --out folder (or file); the old one stays until the new one is "
                "complete");
  cmd->add_flag("--stats", args->stats, "per-tensor MSE, SQNR (dB) and max abs error");
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunQuantize(*args); }};
}

}  // namespace gpt2q
