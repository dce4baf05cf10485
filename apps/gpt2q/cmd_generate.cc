// gpt2q generate: continue a prompt with greedy or sampled decoding.
#include <cstdio>

#include <fmt/core.h>

#include "commands.h"
#include "eval/generate.h"
#include "eval/perplexity.h"
#include "quant_options.h"

namespace gpt2q {
namespace {

struct GenerateArgs {
  CommonOptions common;
  ModelOptions model;
  QuantOptions quant;
  std::string prompt = "ROMEO:";
  int64_t max_length = 50;
  int64_t max_new_tokens = 0;
  CLI::Option* max_new_tokens_option = nullptr;
  int64_t top_k = 30;
  double top_p = 1.0;
  double temperature = 1.0;
  uint64_t seed = 0;
  bool greedy = false;
  bool ignore_eos = false;
  bool self_ppl = false;
};

Status RunGenerate(const GenerateArgs& args) {
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  GenerateOptions options;
  options.max_length = args.max_length;
  if (args.max_new_tokens_option->count() > 0) options.max_new_tokens = args.max_new_tokens;
  options.sampling.greedy = args.greedy;
  options.sampling.top_k = args.top_k;
  options.sampling.top_p = args.top_p;
  options.sampling.temperature = args.temperature;
  options.seed = args.seed;
  options.stop_at_eos = !args.ignore_eos;
  GPT2Q_RETURN_IF_ERROR(ValidateSamplingOptions(options.sampling));
  GPT2Q_RETURN_IF_ERROR(ValidateQuantOptions(args.quant));
  if (options.max_length < 1) {
    return Status::Error(fmt::format("--max-length {} must be >= 1", options.max_length));
  }
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(args.model, *pool));
  GPT2Q_ASSIGN_OR_RETURN(AppliedQuantization applied,
                         ApplyQuantOptions(args.quant, loaded, *pool, CalibrationSourceOf(loaded)));
  const Tokenizer& tokenizer = *loaded.tokenizer;

  std::vector<int32_t> prompt_ids = tokenizer.Encode(args.prompt);
  // Stream the text as it is generated: the bytes of the ids one by one are the
  // bytes of all of them (a character split across tokens arrives whole at the end).
  if (!args.common.json) {
    fmt::print("{}", args.prompt);
    std::fflush(stdout);
    options.on_token = [&tokenizer](int32_t token) {
      std::string_view piece = tokenizer.TokenText(token);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
  }
  GPT2Q_ASSIGN_OR_RETURN(GenerateResult result, Generate(*loaded.model, prompt_ids, options, *pool));
  GPT2Q_ASSIGN_OR_RETURN(std::string text, tokenizer.Decode(result.ids));
  // The reference notebooks' measure: the model's perplexity on all the ids
  // it just produced (prompt included), in one window.
  double self_ppl = 0;
  if (args.self_ppl) {
    if (result.ids.size() < 2) return Status::Error("--self-ppl: fewer than 2 tokens were generated");
    PerplexityOptions ppl_options;
    ppl_options.ctx = static_cast<int64_t>(result.ids.size());
    ppl_options.stride = ppl_options.ctx;
    GPT2Q_ASSIGN_OR_RETURN(PerplexityResult ppl,
                           EvaluatePerplexity(*loaded.model, result.ids, ppl_options, *pool));
    self_ppl = ppl.ppl;
  }
  if (args.common.json) {
    nlohmann::json out = {{"model", loaded.name},
               {"prompt", args.prompt},
               {"text", text},
               {"ids", result.ids},
               {"prompt_tokens", result.prompt_tokens},
               {"new_tokens", result.new_tokens},
               {"stopped_at_eos", result.stopped_at_eos},
               {"greedy", args.greedy},
               {"top_k", args.top_k},
               {"top_p", args.top_p},
               {"temperature", args.temperature},
               {"seed", args.seed},
               {"prefill_s", result.prefill_s},
               {"decode_s", result.decode_s},
               {"prefill_tokens_per_s", result.prefill_tokens_per_s},
               {"decode_tokens_per_s", result.decode_tokens_per_s},
               {"threads", args.common.threads}};
    if (args.self_ppl) out["self_ppl"] = self_ppl;
    out.update(QuantizationJson(applied));
    PrintJson(out);
    return OkStatus();
  }
  fmt::print("\n");
  std::fflush(stdout);
  if (applied.source != "none") {
    fmt::print(stderr, "[{} (scope {}, {} mode{}), weights {}]\n", applied.spec, applied.scope, applied.mode,
               applied.source == "checkpoint" ? "; recorded in the checkpoint" : "",
               FormatBytes(applied.memory.weights_bytes));
  }
  fmt::print(stderr, "[{} prompt + {} new tokens{}; prefill {:.1f} tokens/s, decode {:.1f} tokens/s]\n",
             result.prompt_tokens, result.new_tokens, result.stopped_at_eos ? ", stopped at eos" : "",
             result.prefill_tokens_per_s, result.decode_tokens_per_s);
  if (args.self_ppl) fmt::print(stderr, "[self-perplexity (of the model on its own text): {:.4f}]\n", self_ppl);
  return OkStatus();
}

}  // namespace

Command AddGenerateCommand(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "continue a prompt (default: sampling with top_k=30, max_length=50, as the reference notebooks)");
  AddModelOptions(cmd, &args->model);
  cmd->add_option("--prompt", args->prompt, "the text to continue (empty: start from <|endoftext|>)")
      ->capture_default_str();
  cmd->add_option("--max-length", args->max_length,
                  "prompt + new tokens, as HF generate(max_length=...)")
      ->capture_default_str();
  args->max_new_tokens_option =
      cmd->add_option("--max-new-tokens", args->max_new_tokens,
                      "new tokens to generate; overrides --max-length when given");
  auto* top_k = cmd->add_option("--top-k", args->top_k, "sample from the k most likely tokens (0 = all)")
                    ->capture_default_str();
  auto* top_p = cmd->add_option("--top-p", args->top_p,
                                "nucleus: the smallest set of tokens whose probability is >= p (1 = off)")
                    ->capture_default_str();
  auto* temperature = cmd->add_option("--temperature", args->temperature, "divide the logits by this")
                          ->capture_default_str();
  auto* seed = cmd->add_option("--seed", args->seed, "seed of the sampler (same seed, same text)")
                   ->capture_default_str();
  auto* greedy = cmd->add_flag("--greedy", args->greedy, "always take the most likely token");
  greedy->excludes(top_k)->excludes(top_p)->excludes(temperature)->excludes(seed);
  cmd->add_flag("--ignore-eos", args->ignore_eos, "keep generating after <|endoftext|>");
  cmd->add_flag("--self-ppl", args->self_ppl,
                "also report the model's perplexity on the text it generated (the notebooks' measure)");
  AddQuantOptions(cmd, &args->quant);
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunGenerate(*args); }};
}

}  // namespace gpt2q
