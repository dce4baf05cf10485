// gpt2q compare: fp32 and every requested method × scope on the same windows
// of one text — memory, perplexity, KL divergence against fp32, speed, weight
// histograms, per-tensor error and generated samples — written as tables,
// figures and a self-contained HTML report. Also gpt2q hist (the histograms alone).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "commands.h"
#include "core/memory_stats.h"
#include "core/scratch_buffer.h"
#include "eval/generate.h"
#include "eval/kl_divergence.h"
#include "progress.h"
#include "quant_options.h"
#include "report/report.h"
#include "report/results_io.h"
#include "text/text_file.h"
#include "weight_histograms.h"

namespace gpt2q {
namespace {

constexpr const char* kVersion = "0.1.0";

// One quantized model to build and measure.
struct Run {
  std::string method;  // spec string as given
  std::string scope;
  std::string mode;
  QuantOptions calib;  // only its --calib, --calib-samples, --calib-len
  QuantOptions options() const {
    return QuantOptions{method, scope, {}, {}, mode, calib.calib, calib.calib_samples, calib.calib_len};
  }
};

// A fresh copy of the model, quantized as `run` says (quantization works in place).
struct QuantizedModel {
  LoadedModel loaded;
  AppliedQuantization applied;
};
Result<QuantizedModel> LoadQuantized(const ModelOptions& model, const Run& run, ThreadPool& pool) {
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(model, pool));
  CalibrationSource calib = CalibrationSourceOf(loaded);
  calib.progress = false;  // compare draws its own bar
  GPT2Q_ASSIGN_OR_RETURN(AppliedQuantization applied,
                         ApplyQuantOptions(run.options(), loaded, pool, calib));
  return QuantizedModel{std::move(loaded), std::move(applied)};
}

struct CompareArgs {
  CommonOptions common;
  ModelOptions model;
  std::string text;
  std::vector<std::string> methods;  // empty = every method
  std::vector<std::string> scopes = {"linear"};
  std::string mode = "packed";
  QuantOptions calib;  // --calib, --calib-samples, --calib-len
  bool selective = true;  // the report's extra scopes and the notebooks' all-params runs
  std::string out = "gpt2q-report";
  std::string sort = "ppl";
  int64_t ctx = 0, stride = 0, max_tokens = 4096;
  int64_t max_resident_mib = 512;  // quantized models held at once, sharing one fp32 pass
  CLI::Option *ctx_option = nullptr, *stride_option = nullptr;
  std::vector<std::string> prompts = {"I have a dream", "The future of AI is"};
  int64_t top_k = 30;
  int64_t max_length = 50;
  uint64_t seed = 0;
  bool self_ppl = false;
  HistogramOptions histogram;
  int hist_columns = 2;
};

// Returns the runs of the default experiment, or of --methods × --scopes.
std::vector<Run> PlanRuns(const CompareArgs& args) {
  std::vector<std::string> methods = args.methods;
  const bool default_methods = methods.empty();
  if (default_methods) {
    for (const MethodInfo& m : MethodTable()) {
      if (m.name != "fp32") methods.emplace_back(m.name);
    }
  }
  std::vector<Run> runs;
  std::set<std::string> seen;
  auto add = [&](const std::string& method, const std::string& scope, const std::string& mode) {
    if (seen.insert(method + "|" + scope + "|" + mode).second) runs.push_back({method, scope, mode, args.calib});
  };
  for (const std::string& method : methods) {
    // A calibrated method in the default list runs once, on scope no-lm-head:
    // one calibration per method, not one per scope.
    auto spec = ParseQuantSpec(method);
    if (default_methods && spec.ok() && NeedsCalibration(*spec)) {
      add(method, "no-lm-head", args.mode);
      continue;
    }
    for (const std::string& scope : args.scopes) add(method, scope, args.mode);
  }
  // ZeroQuant's distillation, once on no-lm-head (where the calibrated methods run).
  if (default_methods) add("zeroquant:bits=4,lkd=1", "no-lm-head", args.mode);
  if (default_methods && args.selective) {
    // The report's selective-quantization study, and the notebooks' all-params runs.
    for (const char* method : {"absmax", "llm-int8", "nf4"}) {
      for (const char* scope : {"linear", "no-lm-head", "lm-head", "last4-attn", "qkv"}) {
        add(method, scope, args.mode);
      }
    }
    for (const char* method : {"absmax", "zeropoint"}) add(method, "all-params", "simulate");
  }
  return runs;
}

std::string IsoDate() {
  std::time_t now = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buffer;
}

// Returns the command line that reproduces this run.
std::string CommandLine(const CompareArgs& args, const std::string& model_arg) {
  std::string cmd = "gpt2q compare";
  if (!model_arg.empty()) cmd += " " + model_arg;
  if (!args.text.empty()) cmd += " --text " + args.text;
  if (!args.methods.empty()) {
    cmd += " --methods";
    for (const auto& m : args.methods) cmd += " " + m;
  }
  cmd += " --scopes";
  for (const auto& s : args.scopes) cmd += " " + s;
  cmd += fmt::format(" --mode {} --max-tokens {} --seed {} --top-k {} --max-length {}", args.mode,
                     args.max_tokens, args.seed, args.top_k, args.max_length);
  if (args.ctx_option->count()) cmd += fmt::format(" --ctx {}", args.ctx);
  if (args.stride_option->count()) cmd += fmt::format(" --stride {}", args.stride);
  if (!args.calib.calib.empty()) cmd += " --calib " + args.calib.calib;
  if (args.calib.calib_samples != 128) cmd += fmt::format(" --calib-samples {}", args.calib.calib_samples);
  if (args.calib.calib_len > 0) cmd += fmt::format(" --calib-len {}", args.calib.calib_len);
  if (args.max_resident_mib != 512) cmd += fmt::format(" --max-resident {}", args.max_resident_mib);
  if (!args.selective) cmd += " --no-selective";
  if (args.self_ppl) cmd += " --self-ppl";
  return cmd;
}

// Generates every prompt with the same seed and settings into out->samples
// (self-ppl notes into out->notes), timing their batch-1 decode.
Status MakeSamples(const GPT2& model, const Tokenizer& tokenizer, const CompareArgs& args, ThreadPool& pool,
                   MethodResult* out) {
  std::vector<Sample> samples;
  std::vector<std::string>* notes = &out->notes;
  int64_t decoded = 0;
  double decode_s = 0;
  GenerateOptions options;
  options.max_length = std::min<int64_t>(args.max_length, model.config().n_ctx);
  options.sampling.top_k = args.top_k;
  options.seed = args.seed;
  for (const std::string& prompt : args.prompts) {
    GPT2Q_ASSIGN_OR_RETURN(GeneratedText g, GenerateText(model, tokenizer, prompt, options, pool));
    samples.push_back({prompt, g.text});
    decoded += std::max<int64_t>(g.result.new_tokens - 1, 0);  // the first new token comes with the prefill
    decode_s += g.result.decode_s;
    if (args.self_ppl && g.result.ids.size() >= 2) {
      // The notebooks' own measure: the model's perplexity on the text it generated.
      PerplexityOptions self;
      self.ctx = static_cast<int64_t>(g.result.ids.size());
      self.stride = *self.ctx;
      GPT2Q_ASSIGN_OR_RETURN(PerplexityResult r, EvaluatePerplexity(model, g.result.ids, self, pool));
      notes->push_back(fmt::format("self-ppl (ppl on its own generated text) for \"{}\": {:.3f}", prompt, r.ppl));
    }
  }
  out->samples = std::move(samples);
  out->decode_tokens = decoded;
  out->decode_tokens_per_s = decoded > 0 && decode_s > 0 ? static_cast<double>(decoded) / decode_s : kNotMeasured;
  return OkStatus();
}

MethodResult ResultFromRun(const Run& run, const AppliedQuantization& applied, const KlStats* kl,
                           const PerplexityResult& ppl, double ppl_fp32) {
  MethodResult r;
  r.method = applied.spec;
  r.scope = applied.scope;
  r.mode = applied.mode;
  std::set<std::string> formats;
  for (const auto& t : applied.report.tensors) formats.insert(t.format);
  r.format = formats.empty() ? "fp32" : fmt::format("{}", fmt::join(formats, "+"));
  r.weights_bytes = applied.memory.weights_bytes;
  r.fp32_bytes = applied.memory.fp32_bytes;
  r.hf_footprint_bytes = applied.memory.hf_footprint_bytes;
  r.peak_forward_bytes = ppl.peak_tracked_bytes;
  r.loss = ppl.loss;
  r.ppl = ppl.ppl;
  r.ppl_stderr = ppl.ppl_stderr;
  r.delta_ppl = ppl.ppl - ppl_fp32;
  if (kl) {
    r.kld_mean = kl->kld_mean;
    r.kld_stderr = kl->kld_stderr;
    r.kld_median = kl->kld_median;
    r.kld_p99 = kl->kld_p99;
    r.kld_max = kl->kld_max;
    r.top1_agree = kl->top1_agree;
    r.top1_agree_stderr = kl->top1_agree_stderr;
    r.rms_delta_p = kl->rms_delta_p;
  }
  r.eval_s = ppl.eval_s;
  r.tokens_per_s = ppl.tokens_per_s;
  if (ppl.forward_s > 0) r.prefill_tokens_per_s = ppl.prefill_tokens_per_s();
  const PerplexityResult& fp32 = kl != nullptr ? kl->reference : ppl;  // fp32's own row: itself
  if (fp32.forward_s > 0) r.fp32_prefill_tokens_per_s = fp32.prefill_tokens_per_s();
  r.quantize_s = applied.report.seconds;
  for (const auto& t : applied.report.tensors) r.per_tensor.push_back({t.name, t.mse, t.sqnr_db, t.max_abs_err});
  r.notes = applied.report.notes;
  if (run.mode == "simulate" && run.method != "fp32") {
    r.notes.push_back("simulate: weights quantize-dequantized to fp32; memory does not shrink");
  }
  return r;
}

Status RunCompare(const CompareArgs& args) {
  // Every argument is checked before any work starts.
  GPT2Q_ASSIGN_OR_RETURN(SortKey sort_key, ParseSortKey(args.sort));
  GPT2Q_RETURN_IF_ERROR(ValidateHistogramOptions(args.histogram));
  if (args.max_tokens < 2) return Status::Error(fmt::format("--max-tokens {} must be >= 2", args.max_tokens));
  if (args.max_resident_mib < 0 || args.max_resident_mib > (int64_t{1} << 30)) {
    return Status::Error(fmt::format("--max-resident {} must be in [0, 2^30] MiB", args.max_resident_mib));
  }
  const std::vector<Run> runs = PlanRuns(args);
  for (const Run& run : runs) {
    GPT2Q_RETURN_IF_ERROR(ValidateQuantOptions(run.options()));
  }
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  std::string text_path = args.text;
  if (text_path.empty()) {
    GPT2Q_ASSIGN_OR_RETURN(text_path, ShippedTextPath());
  }
  GPT2Q_ASSIGN_OR_RETURN(std::string text, ReadTextFile(text_path));
  if (text.empty()) return Status::Error(text_path + ": the text is empty");
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel base, LoadModel(args.model, *pool));
  GPT2Q_RETURN_IF_ERROR(RefuseQuantizedCheckpoint(base, "compare"));
  const GPT2Config config = base.model->config();
  std::vector<int32_t> tokens = base.tokenizer->Encode(text);
  const int64_t text_tokens = static_cast<int64_t>(tokens.size());
  if (text_tokens > args.max_tokens) tokens.resize(args.max_tokens);
  PerplexityOptions ppl_options;
  ppl_options.ctx = args.ctx_option->count() ? args.ctx : config.n_ctx;
  if (args.stride_option->count()) ppl_options.stride = args.stride;
  if (static_cast<int64_t>(tokens.size()) < *ppl_options.ctx + 1) {
    return Status::Error(fmt::format("{}: {} tokens used, shorter than one window of ctx {} (+1 target)", text_path,
                                     tokens.size(), *ppl_options.ctx));
  }

  RunInfo info;
  info.model_name = base.name.substr(base.name.find_last_of('/') + 1);
  info.model_path = base.name;
  info.config = {config.n_embd, config.n_layer, config.n_head, config.n_ctx, config.n_vocab,
                 config.n_inner, config.layer_norm_epsilon, "gelu_new", config.ParameterCount()};
  info.text_path = text_path;
  info.text_chars = static_cast<int64_t>(text.size());
  info.text_tokens = static_cast<int64_t>(tokens.size());
  info.text = base.tokenizer->Decode(tokens).value();
  info.ctx = *ppl_options.ctx;
  info.stride = ppl_options.stride.value_or(*ppl_options.ctx / 2);
  info.seed = args.seed;
  info.threads = args.common.threads;
  info.version = kVersion;
  info.date = IsoDate();
  info.command_line = CommandLine(args, args.model.synthetic.empty() ? args.model.model : "--synthetic " + args.model.synthetic);
  info.settings = {{"text tokens (whole text)", std::to_string(text_tokens)},
                   {"max tokens", std::to_string(args.max_tokens)},
                   {"default mode", args.mode},
                   {"prompts", fmt::format("{}", fmt::join(args.prompts, " | "))},
                   {"sampling", fmt::format("top-k {}, max-length {}, seed {}", args.top_k, args.max_length, args.seed)},
                   {"histogram", fmt::format("{} bins over [{}, {}]", args.histogram.bins, args.histogram.lo,
                                             args.histogram.hi)}};

  // Progress counts the fp32 row, then every run twice: built, then evaluated.
  ProgressBar progress("compare", static_cast<int64_t>(2 * runs.size() + 1));
  int64_t steps_done = 0;
  std::vector<MethodResult> results;
  std::vector<HistogramData> histograms;
  std::set<std::string> histogram_methods;
  GPT2Q_ASSIGN_OR_RETURN(AppliedQuantization none, ApplyQuantOptions(QuantOptions{}, base, *pool));
  ResetTrackedPeak();
  GPT2Q_ASSIGN_OR_RETURN(PerplexityResult fp32_ppl, EvaluatePerplexity(*base.model, tokens, ppl_options, *pool));
  MethodResult fp32 = ResultFromRun({"fp32", "-", "packed", {}}, none, nullptr, fp32_ppl, fp32_ppl.ppl);
  fp32.kld_mean = fp32.kld_median = fp32.kld_p99 = fp32.kld_max = fp32.kld_stderr = 0;
  fp32.top1_agree = 1;
  fp32.rms_delta_p = 0;
  GPT2Q_RETURN_IF_ERROR(MakeSamples(*base.model, *base.tokenizer, args, *pool, &fp32));
  results.push_back(std::move(fp32));
  progress.Update(++steps_done);

  // The quantized models are built into groups that share one fp32 pass per
  // window: a group is evaluated once its models hold --max-resident MiB, so the
  // fp32 forward runs once per group rather than once per method.
  struct Built {
    size_t run;
    QuantizedModel quantized;
    int64_t resident_bytes;  // tracked bytes the model alone holds
  };
  std::vector<Built> group;
  int64_t group_bytes = 0;
  auto evaluate_group = [&]() -> Status {
    if (group.empty()) return OkStatus();
    std::vector<CompareCandidate> candidates;
    for (const Built& b : group) candidates.push_back({b.quantized.loaded.model.get(), b.resident_bytes});
    GPT2Q_ASSIGN_OR_RETURN(std::vector<KlStats> kl,
                           CompareModels(*base.model, candidates, tokens, ppl_options, *pool));
    for (size_t g = 0; g < group.size(); ++g) {
      const Built& b = group[g];
      MethodResult r = ResultFromRun(runs[b.run], b.quantized.applied, &kl[g], kl[g].candidate, fp32_ppl.ppl);
      GPT2Q_RETURN_IF_ERROR(MakeSamples(*b.quantized.loaded.model, *base.tokenizer, args, *pool, &r));
      results.push_back(std::move(r));
      progress.Update(++steps_done);
    }
    group.clear();
    group_bytes = 0;
    return OkStatus();
  };
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    const int64_t held_before = TrackedBytes() - TrackedScratchBytes();
    GPT2Q_ASSIGN_OR_RETURN(QuantizedModel quantized, LoadQuantized(args.model, run, *pool));
    quantized.loaded.tokenizer.reset();  // the base model's serves every run
    const int64_t resident = std::max<int64_t>(0, TrackedBytes() - TrackedScratchBytes() - held_before);
    // One histogram panel per method: its first scope's tensors.
    if (histogram_methods.insert(run.method).second) {
      GPT2Q_ASSIGN_OR_RETURN(HistogramData h, WeightHistogram(info.model_name, run.method, base.model->weights(),
                                                              quantized.loaded.model->weights(),
                                                              quantized.applied.report.tensors, args.histogram, *pool));
      histograms.push_back(std::move(h));
    }
    group.push_back({i, std::move(quantized), resident});
    group_bytes += resident;
    progress.Update(++steps_done);
    if (group_bytes >= args.max_resident_mib * (int64_t{1} << 20)) GPT2Q_RETURN_IF_ERROR(evaluate_group());
  }
  GPT2Q_RETURN_IF_ERROR(evaluate_group());
  progress.Finish();

  SortResults(results, sort_key);
  ReportOptions report_options;
  report_options.histogram.columns = args.hist_columns;
  GPT2Q_ASSIGN_OR_RETURN(ReportFiles files, WriteReport(args.out, info, results, histograms, report_options));
  GPT2Q_RETURN_IF_ERROR(WriteTextFile(args.out + "/histograms.json", HistogramsToJson(histograms).dump(1) + "\n"));
  if (args.common.json) {
    PrintJson(ResultsToJson(info, results));
    return OkStatus();
  }
  fmt::print("{}\n", FormatTerminalTable(results));
  fmt::print("report: {}\n", files.report_html);
  return OkStatus();
}

// gpt2q hist: one panel per method (its first scope), no evaluation.
Status RunHist(const CompareArgs& args) {
  GPT2Q_RETURN_IF_ERROR(ValidateHistogramOptions(args.histogram));
  std::vector<Run> runs;
  std::set<std::string> methods;
  for (const Run& run : PlanRuns(args)) {
    GPT2Q_RETURN_IF_ERROR(ValidateQuantOptions(run.options()));
    if (methods.insert(run.method).second) runs.push_back(run);
  }
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel base, LoadModel(args.model, *pool));
  GPT2Q_RETURN_IF_ERROR(RefuseQuantizedCheckpoint(base, "hist"));
  const std::string model_name = base.name.substr(base.name.find_last_of('/') + 1);
  ProgressBar progress("hist", static_cast<int64_t>(runs.size()));
  std::vector<HistogramData> histograms;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    GPT2Q_ASSIGN_OR_RETURN(QuantizedModel quantized, LoadQuantized(args.model, run, *pool));
    const GPT2& model = *quantized.loaded.model;
    const AppliedQuantization& applied = quantized.applied;
    GPT2Q_ASSIGN_OR_RETURN(HistogramData h,
                           WeightHistogram(model_name, run.method, base.model->weights(), model.weights(),
                                           applied.report.tensors, args.histogram, *pool));
    histograms.push_back(std::move(h));
    progress.Update(static_cast<int64_t>(i + 1));
  }
  progress.Finish();

  std::error_code error;
  std::filesystem::create_directories(args.out, error);
  if (error) return Status::Error(args.out + ": cannot create the folder: " + error.message());
  HistogramPlotOptions plot;
  plot.columns = args.hist_columns;
  GPT2Q_RETURN_IF_ERROR(PlotHistogramGrid(histograms, args.out + "/weights", plot));
  const nlohmann::json counts = HistogramsToJson(histograms);
  GPT2Q_RETURN_IF_ERROR(WriteTextFile(args.out + "/histograms.json", counts.dump(1) + "\n"));
  if (args.common.json) {
    PrintJson(counts);
  } else {
    fmt::print("wrote {0}/weights.png, {0}/weights.svg and {0}/histograms.json ({1} panel{2})\n", args.out,
               histograms.size(), histograms.size() == 1 ? "" : "s");
  }
  return OkStatus();
}

// `full` is compare; hist takes only what shapes the histograms (no text, windows or samples).
void AddCompareOptions(CLI::App* cmd, CompareArgs* args, bool full) {
  AddModelOptions(cmd, &args->model);
  cmd->add_option("--methods", args->methods,
                  "METHOD[:key=value,...] specs (default: every method; see `gpt2q perplexity --help`)");
  cmd->add_option("--scopes", args->scopes, "scopes each method runs on")->capture_default_str();
  cmd->add_option("--mode", args->mode, "packed or simulate")->capture_default_str();
  cmd->add_option("--calib", args->calib.calib,
                  "calibration text for calibrated methods (default: data/tinyshakespeare-calib.txt for the "
                  "shipped model, data/wikitext2-valid.txt otherwise); other methods ignore it");
  cmd->add_option("--calib-samples", args->calib.calib_samples, "calibration windows N (calibrated methods only)")
      ->capture_default_str();
  cmd->add_option("--calib-len", args->calib.calib_len,
                  "tokens per calibration window L (default min(512, n_ctx); calibrated methods only)");
  cmd->add_option("--out", args->out, "output folder")->capture_default_str();
  cmd->add_option("--bins", args->histogram.bins, "histogram bins")->capture_default_str();
  cmd->add_option("--hist-lo", args->histogram.lo, "histogram range start")->capture_default_str();
  cmd->add_option("--hist-hi", args->histogram.hi, "histogram range end")->capture_default_str();
  cmd->add_option("--hist-columns", args->hist_columns, "histogram panels per row")->capture_default_str();
  if (!full) return;
  cmd->add_option("--text", args->text, "UTF-8 text file (default: the shipped tinyshakespeare-heldout.txt)");
  cmd->add_option("--max-tokens", args->max_tokens, "evaluate the first N tokens of the text")->capture_default_str();
  args->ctx_option = cmd->add_option("--ctx", args->ctx, "window length in tokens (default: n_ctx)");
  args->stride_option = cmd->add_option("--stride", args->stride, "window step (default: ctx/2)");
  cmd->add_flag("!--no-selective", args->selective,
                "with the default methods, skip the report's selective scopes and the all-params runs");
  cmd->add_option("--max-resident", args->max_resident_mib,
                  "MiB of quantized models held at once; a group shares one fp32 pass per window "
                  "(0: one model at a time; results do not depend on it)")
      ->capture_default_str();
  cmd->add_option("--sort", args->sort, "table order: ppl, kld, bytes or speed")->capture_default_str();
  cmd->add_option("--prompts", args->prompts, "prompts every method continues")->capture_default_str();
  cmd->add_option("--top-k", args->top_k, "sampling: top-k")->capture_default_str();
  cmd->add_option("--max-length", args->max_length, "prompt + new tokens")->capture_default_str();
  cmd->add_option("--seed", args->seed, "sampling seed, the same for every method")->capture_default_str();
  cmd->add_flag("--self-ppl", args->self_ppl, "also the notebooks' measure: each model's ppl on its own samples");
}

}  // namespace

Command AddCompareCommand(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand("compare", "every method x scope side by side: tables, figures, samples, report.html");
  AddCompareOptions(cmd, args.get(), true);
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunCompare(*args); }};
}

Command AddHistCommand(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  args->out = "gpt2q-hist";
  args->selective = false;  // one panel per method needs none of compare's extra scopes
  CLI::App* cmd = app.add_subcommand("hist", "weight histograms: original vs dequantized, one panel per method");
  AddCompareOptions(cmd, args.get(), false);
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunHist(*args); }};
}

}  // namespace gpt2q
