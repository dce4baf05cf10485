// gpt2q bench: prefill and decode throughput of a model and tokenizer speed,
// as medians of repeated runs.
#include <algorithm>
#include <random>
#include <sstream>

#include <fmt/core.h>

#include "commands.h"
#include "core/aligned_buffer.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "model/kv_cache.h"
#include "progress.h"
#include "text/text_file.h"

namespace gpt2q {
namespace {

struct BenchArgs {
  CommonOptions common;
  ModelOptions model;
  std::string what = "prefill,decode,tokenizer";
  std::string text;
  int64_t tokens = 1024;
  int64_t decode_tokens = 128;
  int repeat = 5;
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

Status RunBench(const BenchArgs& args) {
  bool prefill = false, decode = false, tokenizer_bench = false;
  std::stringstream what(args.what);
  for (std::string item; std::getline(what, item, ',');) {
    if (item == "prefill") prefill = true;
    else if (item == "decode") decode = true;
    else if (item == "tokenizer") tokenizer_bench = true;
    else return Status::Error("--what: unknown item '" + item + "'; valid: prefill, decode, tokenizer");
  }
  if (args.repeat < 1) return Status::Error(fmt::format("--repeat {} must be >= 1", args.repeat));
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(args.model, *pool));
  const GPT2& model = *loaded.model;
  const GPT2Config& config = model.config();
  if (prefill && (args.tokens < 1 || args.tokens > config.n_ctx)) {
    return Status::Error(fmt::format("--tokens {} is outside [1, n_ctx = {}]", args.tokens, config.n_ctx));
  }
  if (decode && (args.decode_tokens < 1 || args.decode_tokens > config.n_ctx)) {
    return Status::Error(
        fmt::format("--decode-tokens {} is outside [1, n_ctx = {}]", args.decode_tokens, config.n_ctx));
  }

  nlohmann::json out = {{"model", loaded.name}, {"threads", args.common.threads}, {"repeat", args.repeat}};
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int32_t> random_token(0, static_cast<int32_t>(config.n_vocab) - 1);
  ProgressBar progress("bench", args.repeat * (prefill + decode + tokenizer_bench));
  int64_t steps = 0;

  if (prefill) {
    // One window of `tokens` tokens with logits at every position (the perplexity workload).
    std::vector<int32_t> tokens(args.tokens);
    for (int32_t& t : tokens) t = random_token(rng);
    AlignedBuffer logits(static_cast<size_t>(args.tokens * config.n_vocab) * sizeof(float));
    KVCache cache(config, 1, args.tokens);
    std::vector<double> rates;
    for (int r = -1; r < args.repeat; ++r) {  // run -1 warms up (page faults, caches)
      cache.Clear();
      Stopwatch watch;
      model.Forward(tokens.data(), 1, args.tokens, cache, LogitsMode::kAll, logits.as<float>(), *pool);
      if (r < 0) continue;
      rates.push_back(args.tokens / watch.Seconds());
      progress.Update(++steps);
    }
    out["prefill"] = {{"tokens", args.tokens}, {"tokens_per_s", Median(rates)}, {"runs", rates}};
  }
  if (decode) {
    // Batch 1, one token per Forward call from an empty cache, logits of that token.
    AlignedBuffer logits(static_cast<size_t>(config.n_vocab) * sizeof(float));
    KVCache cache(config, 1, args.decode_tokens);
    std::vector<double> rates;
    for (int r = -1; r < args.repeat; ++r) {  // run -1 warms up
      cache.Clear();
      int32_t token = random_token(rng);
      Stopwatch watch;
      for (int64_t i = 0; i < args.decode_tokens; ++i) {
        model.Forward(&token, 1, 1, cache, LogitsMode::kLast, logits.as<float>(), *pool);
        token = random_token(rng);
      }
      if (r < 0) continue;
      rates.push_back(args.decode_tokens / watch.Seconds());
      progress.Update(++steps);
    }
    out["decode"] = {{"tokens", args.decode_tokens}, {"tokens_per_s", Median(rates)}, {"runs", rates}};
  }
  if (tokenizer_bench) {
    std::string path = args.text;
    if (path.empty()) {
      GPT2Q_ASSIGN_OR_RETURN(path, ShippedTextPath());
    }
    GPT2Q_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
    std::vector<double> rates;
    int64_t n_tokens = 0;
    for (int r = 0; r < args.repeat; ++r) {
      loaded.tokenizer->ClearCache();  // cold cache: every piece goes through BPE
      Stopwatch watch;
      n_tokens = static_cast<int64_t>(loaded.tokenizer->Encode(text).size());
      rates.push_back(static_cast<double>(text.size()) / 1e6 / watch.Seconds());
      progress.Update(++steps);
    }
    out["tokenizer"] = {{"text", path}, {"bytes", text.size()}, {"tokens", n_tokens},
                        {"mb_per_s", Median(rates)}, {"runs", rates}};
  }
  progress.Finish();
  out["peak_rss_bytes"] = PeakRssBytes();

  if (args.common.json) {
    PrintJson(out);
    return OkStatus();
  }
  fmt::print("model      {} ({} threads, median of {})\n", loaded.name, args.common.threads, args.repeat);
  if (prefill) {
    fmt::print("prefill    {:.1f} tokens/s  (1 x {} tokens, all logits)\n",
               out["prefill"]["tokens_per_s"].get<double>(), args.tokens);
  }
  if (decode) {
    fmt::print("decode     {:.1f} tokens/s  (batch 1, {} tokens)\n",
               out["decode"]["tokens_per_s"].get<double>(), args.decode_tokens);
  }
  if (tokenizer_bench) {
    fmt::print("tokenizer  {:.2f} MB/s  (cold cache, {} bytes)\n",
               out["tokenizer"]["mb_per_s"].get<double>(), out["tokenizer"]["bytes"].get<int64_t>());
  }
  fmt::print("peak RSS   {}\n", FormatBytes(PeakRssBytes()));
  return OkStatus();
}

}  // namespace

Command AddBenchCommand(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "time prefill, decode and the tokenizer (medians)");
  AddModelOptions(cmd, &args->model);
  cmd->add_option("--what", args->what, "comma-separated: prefill, decode, tokenizer")->capture_default_str();
  cmd->add_option("--tokens", args->tokens, "prefill window length (tokens, all logits)")->capture_default_str();
  cmd->add_option("--decode-tokens", args->decode_tokens, "tokens decoded one at a time")->capture_default_str();
  cmd->add_option("--repeat", args->repeat, "timed runs per measurement, after one warm-up run; the median is reported")->capture_default_str();
  cmd->add_option("--text", args->text, "text for the tokenizer benchmark (default: the shipped held-out text)");
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunBench(*args); }};
}

}  // namespace gpt2q
