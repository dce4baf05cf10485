// gpt2q perplexity: sliding-window perplexity of a model on a text.
#include <algorithm>
#include <optional>

#include <fmt/core.h>

#include "commands.h"
#include "core/timer.h"
#include "eval/kl_divergence.h"
#include "eval/perplexity.h"
#include "progress.h"
#include "quant_options.h"
#include "text/text_file.h"

namespace gpt2q {
namespace {

struct PerplexityArgs {
  CommonOptions common;
  ModelOptions model;
  std::string text;
  int64_t ctx = 0, stride = 0, max_tokens = 0;
  CLI::Option *ctx_option = nullptr, *stride_option = nullptr, *max_tokens_option = nullptr;
  int64_t batch = 1;
  QuantOptions quant;
  bool kld = false;
};

nlohmann::json KlJson(const KlStats& k) {
  return {{"tokens", k.tokens},
          {"kld_mean", k.kld_mean},
          {"kld_stderr", k.kld_stderr},
          {"kld_median", k.kld_median},
          {"kld_p99", k.kld_p99},
          {"kld_max", k.kld_max},
          {"top1_agree", k.top1_agree},
          {"top1_agree_stderr", k.top1_agree_stderr},
          {"rms_delta_p", k.rms_delta_p},
          {"ppl_fp32", k.reference.ppl},
          {"delta_ppl", k.candidate.ppl - k.reference.ppl}};
}

Status RunPerplexity(const PerplexityArgs& args) {
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  GPT2Q_RETURN_IF_ERROR(ValidateQuantOptions(args.quant));
  PerplexityOptions options;
  if (args.ctx_option->count() > 0) options.ctx = args.ctx;
  if (args.stride_option->count() > 0) options.stride = args.stride;
  options.batch = args.batch;
  if (args.max_tokens_option->count() > 0 && args.max_tokens < 2) {
    return Status::Error(fmt::format("--max-tokens {} must be >= 2", args.max_tokens));
  }
  std::string text_path = args.text;
  if (text_path.empty()) {
    GPT2Q_ASSIGN_OR_RETURN(text_path, ShippedTextPath());
  }
  GPT2Q_ASSIGN_OR_RETURN(std::string text, ReadTextFile(text_path));
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(args.model, *pool));
  if (args.kld) GPT2Q_RETURN_IF_ERROR(RefuseQuantizedCheckpoint(loaded, "--kld (its fp32 reference)"));
  GPT2Q_ASSIGN_OR_RETURN(AppliedQuantization applied,
                         ApplyQuantOptions(args.quant, loaded, *pool, CalibrationSourceOf(loaded)));

  Stopwatch tokenize_watch;
  std::vector<int32_t> tokens = loaded.tokenizer->Encode(text);
  const double tokenize_s = tokenize_watch.Seconds();
  const int64_t text_tokens = static_cast<int64_t>(tokens.size());
  if (args.max_tokens_option->count() > 0 && text_tokens > args.max_tokens) tokens.resize(args.max_tokens);

  ProgressBar progress("perplexity", static_cast<int64_t>(tokens.size()) - 1);
  options.on_progress = [&progress](int64_t done, int64_t total) { progress.Update(done); };
  std::optional<KlStats> kl;
  PerplexityResult r;
  if (args.kld) {
    // The fp32 model, loaded again, runs the same windows beside the quantized one.
    GPT2Q_ASSIGN_OR_RETURN(LoadedModel reference, LoadModel(args.model, *pool));
    Result<KlStats> compared = CompareModels(*reference.model, *loaded.model, tokens, options, *pool);
    progress.Finish();
    if (!compared.ok()) return compared.status();
    kl = std::move(compared).value();
    r = kl->candidate;
  } else {
    Result<PerplexityResult> evaluated = EvaluatePerplexity(*loaded.model, tokens, options, *pool);
    progress.Finish();
    if (!evaluated.ok()) return evaluated.status();
    r = std::move(evaluated).value();
  }

  if (args.common.json) {
    nlohmann::json out = {{"model", loaded.name},
               {"text", text_path},
               {"text_tokens", text_tokens},
               {"tokens", tokens.size()},
               {"ctx", r.ctx},
               {"stride", r.stride},
               {"batch", args.batch},
               {"windows", r.windows},
               {"tokens_scored", r.tokens_scored},
               {"nll_sum", r.nll_sum},
               {"loss", r.loss},
               {"loss_stderr", r.loss_stderr},
               {"ppl", r.ppl},
               {"ppl_stderr", r.ppl_stderr},
               {"tokenize_s", tokenize_s},
               {"eval_s", r.eval_s},
               {"tokens_per_s", r.tokens_per_s},
               {"peak_forward_bytes", {{"tracked", r.peak_tracked_bytes}, {"rss", r.peak_rss_bytes}}},
               {"threads", args.common.threads}};
    out.update(QuantizationJson(applied));
    if (kl) out["kl"] = KlJson(*kl);
    PrintJson(out);
    return OkStatus();
  }
  PrintQuantizationSummary(loaded.name, applied);
  for (const std::string& note : applied.report.notes) fmt::print("note       {}\n", note);
  fmt::print("text       {} ({} tokens{})\n", text_path, text_tokens,
             static_cast<int64_t>(tokens.size()) < text_tokens
                 ? fmt::format(", first {} used", tokens.size())
                 : std::string());
  fmt::print("windows    {} of ctx {}, stride {}; {} tokens scored\n", r.windows, r.ctx, r.stride,
             r.tokens_scored);
  fmt::print("loss       {:.6f} ± {:.6f} nats/token\n", r.loss, r.loss_stderr);
  fmt::print("ppl        {:.4f} ± {:.4f}\n", r.ppl, r.ppl_stderr);
  if (kl) {
    fmt::print("vs fp32    Δppl {:+.4f} (fp32 {:.4f}); KLD {:.6f} ± {:.6f}, median {:.6f}, p99 {:.6f}, max {:.6f}\n",
               r.ppl - kl->reference.ppl, kl->reference.ppl, kl->kld_mean, kl->kld_stderr, kl->kld_median,
               kl->kld_p99, kl->kld_max);
    fmt::print("           top-1 agreement {:.4f} ± {:.4f}; RMS Δp {:.6f}\n", kl->top1_agree,
               kl->top1_agree_stderr, kl->rms_delta_p);
  }
  fmt::print("speed      {:.1f} tokens/s ({:.2f} s, {} threads)\n", r.tokens_per_s, r.eval_s,
             args.common.threads);
  fmt::print("memory     tracked peak {}, peak RSS {}\n", FormatBytes(r.peak_tracked_bytes),
             FormatBytes(r.peak_rss_bytes));
  return OkStatus();
}

}  // namespace

Command AddPerplexityCommand(CLI::App& app) {
  auto args = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity", "sliding-window perplexity (Hugging Face's method: every token scored once)");
  AddModelOptions(cmd, &args->model);
  cmd->add_option("--text", args->text, "UTF-8 text file (default: the shipped tinyshakespeare-heldout.txt)");
  args->ctx_option = cmd->add_option("--ctx", args->ctx, "window length in tokens (default: n_ctx)");
  args->stride_option = cmd->add_option("--stride", args->stride, "window step in tokens (default: ctx/2)");
  cmd->add_option("--batch", args->batch, "windows of equal length per forward call")
      ->capture_default_str();
  args->max_tokens_option =
      cmd->add_option("--max-tokens", args->max_tokens, "evaluate only the first N tokens of the text");
  cmd->add_flag("--kld", args->kld,
                "also run the fp32 model on the same windows: KL divergence, top-1 agreement, Δppl, RMS Δp");
  AddQuantOptions(cmd, &args->quant);
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunPerplexity(*args); }};
}

}  // namespace gpt2q
