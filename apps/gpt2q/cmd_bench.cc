// gpt2q bench: prefill and decode throughput of a model and tokenizer speed,
// as medians of repeated runs.
#include <malloc.h>

#include <algorithm>
#include <optional>
#include <random>
#include <sstream>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "commands.h"
#include "core/aligned_buffer.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "model/kv_cache.h"
#include "progress.h"
#include "quant_options.h"
#include "text/text_file.h"

namespace gpt2q {
namespace {

struct BenchArgs {
  CommonOptions common;
  ModelOptions model;
  std::string what = "prefill,decode,tokenizer";
  std::string text;
  int64_t tokens = 1024;
  std::string logits = "all";  // prefill logits: every position (perplexity) or the last (a prompt)
  int64_t decode_tokens = 128;
  int repeat = 5;
  std::vector<std::string> quants;  // methods timed after fp32, each on a fresh copy of the model
  QuantOptions quant;               // scope and mode for them
};

// Prefill and decode rates of one model, medians of `repeat` runs after a warm-up,
// and the peak RSS while they ran (none where the kernel cannot reset the peak).
struct ModelTiming {
  double prefill = 0, decode = 0;
  std::vector<double> prefill_runs, decode_runs;
  std::optional<int64_t> peak_rss_bytes;
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

ModelTiming TimeModel(const GPT2& model, const BenchArgs& args, bool prefill, bool decode,
                      std::mt19937_64& rng, ThreadPool& pool, const std::function<void()>& tick) {
  const GPT2Config& config = model.config();
  std::uniform_int_distribution<int32_t> random_token(0, static_cast<int32_t>(config.n_vocab) - 1);
  ModelTiming timing;
  if (prefill) {
    // One window of `tokens` tokens with logits at every position (the perplexity
    // workload) or at the last one (a prompt, as llama-bench's pp test).
    const bool all_logits = args.logits == "all";
    std::vector<int32_t> tokens(args.tokens);
    for (int32_t& t : tokens) t = random_token(rng);
    AlignedBuffer logits(static_cast<size_t>((all_logits ? args.tokens : 1) * config.n_vocab) * sizeof(float));
    KVCache cache(config, 1, args.tokens);
    std::vector<double> rates;
    for (int r = -1; r < args.repeat; ++r) {  // run -1 warms up (page faults, caches)
      cache.Clear();
      Stopwatch watch;
      model.Forward(tokens.data(), 1, args.tokens, cache, all_logits ? LogitsMode::kAll : LogitsMode::kLast,
                    logits.as<float>(), pool);
      if (r < 0) continue;
      rates.push_back(args.tokens / watch.Seconds());
      tick();
    }
    timing.prefill = Median(rates);
    timing.prefill_runs = rates;
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
        model.Forward(&token, 1, 1, cache, LogitsMode::kLast, logits.as<float>(), pool);
        token = random_token(rng);
      }
      if (r < 0) continue;
      rates.push_back(args.decode_tokens / watch.Seconds());
      tick();
    }
    timing.decode = Median(rates);
    timing.decode_runs = rates;
  }
  return timing;
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
  if (args.logits != "all" && args.logits != "last") {
    return Status::Error("--logits: '" + args.logits + "'; valid: all, last");
  }
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(args.model, *pool));
  GPT2Q_RETURN_IF_ERROR(ValidateQuantOptions(args.quant));
  for (const std::string& q : args.quants) GPT2Q_RETURN_IF_ERROR(ParseQuantSpec(q).status());
  const GPT2Config config = loaded.model->config();
  if (prefill && (args.tokens < 1 || args.tokens > config.n_ctx)) {
    return Status::Error(fmt::format("--tokens {} is outside [1, n_ctx = {}]", args.tokens, config.n_ctx));
  }
  if (decode && (args.decode_tokens < 1 || args.decode_tokens > config.n_ctx)) {
    return Status::Error(
        fmt::format("--decode-tokens {} is outside [1, n_ctx = {}]", args.decode_tokens, config.n_ctx));
  }

  nlohmann::json out = {{"model", loaded.name}, {"threads", args.common.threads}, {"repeat", args.repeat}};
  std::mt19937_64 rng(7);
  ProgressBar progress("bench", args.repeat * ((prefill + decode) * (1 + static_cast<int64_t>(args.quants.size())) +
                                               tokenizer_bench));
  int64_t steps = 0;

  // The process's peak, kept across the per-method resets below.
  int64_t process_peak_rss = 0;
  std::vector<std::pair<std::string, AppliedQuantization>> rows;
  std::vector<ModelTiming> timings;
  for (size_t m = 0; m <= args.quants.size() && (prefill || decode); ++m) {
    AppliedQuantization applied;
    if (m == 0) {
      GPT2Q_ASSIGN_OR_RETURN(applied, ApplyQuantOptions(QuantOptions{}, loaded, *pool));
    } else {
      // A fresh copy of the model for every method (quantization works in
      // place), loaded once the previous one is gone.
      loaded.model.reset();
      GPT2Q_ASSIGN_OR_RETURN(LoadedModel copy, LoadModel(args.model, *pool));
      loaded.model = std::move(copy.model);
      QuantOptions options = args.quant;
      options.quant = args.quants[m - 1];
      GPT2Q_ASSIGN_OR_RETURN(applied, ApplyQuantOptions(options, loaded, *pool, CalibrationSourceOf(copy)));
    }
    // This method's own peak: the previous model and the fp32 weights that
    // quantization replaced go back to the kernel first.
    malloc_trim(0);
    process_peak_rss = std::max(process_peak_rss, PeakRssBytes());
    const bool peak_reset = ResetPeakRss();
    timings.push_back(TimeModel(*loaded.model, args, prefill, decode, rng, *pool, [&] { progress.Update(++steps); }));
    if (peak_reset) timings.back().peak_rss_bytes = PeakRssBytes();
    rows.emplace_back(applied.spec, std::move(applied));
  }
  if (!rows.empty()) {
    nlohmann::json table = nlohmann::json::array();
    for (size_t i = 0; i < rows.size(); ++i) {
      nlohmann::json row = QuantizationJson(rows[i].second);
      row.erase("tensors");
      if (prefill) {
        row["prefill_tokens_per_s"] = timings[i].prefill;
        row["prefill_runs"] = timings[i].prefill_runs;
        row["prefill_vs_fp32"] = timings[i].prefill / timings[0].prefill;
      }
      if (decode) {
        row["decode_tokens_per_s"] = timings[i].decode;
        row["decode_runs"] = timings[i].decode_runs;
        row["decode_vs_fp32"] = timings[i].decode / timings[0].decode;
      }
      row["peak_rss_bytes"] = timings[i].peak_rss_bytes ? nlohmann::json(*timings[i].peak_rss_bytes) : nullptr;
      table.push_back(row);
    }
    out["methods"] = table;
    out["prefill_tokens"] = args.tokens;
    out["prefill_logits"] = args.logits;
    out["decode_tokens"] = args.decode_tokens;
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
  process_peak_rss = std::max(process_peak_rss, PeakRssBytes());
  out["peak_rss_bytes"] = process_peak_rss;

  if (args.common.json) {
    PrintJson(out);
    return OkStatus();
  }
  fmt::print("model      {} ({} threads, median of {})\n", loaded.name, args.common.threads, args.repeat);
  if (!rows.empty()) {
    std::vector<std::string> workload;
    if (prefill) {
      workload.push_back(fmt::format("{} tokens prefilled ({} logits)", args.tokens,
                                     args.logits == "all" ? "all" : "last-token"));
    }
    if (decode) workload.push_back(fmt::format("{} decoded at batch 1", args.decode_tokens));
    fmt::print("{}\n", fmt::join(workload, ", "));
    size_t width = 28;  // the method column fits the longest spec
    for (const auto& row : rows) width = std::max(width, row.first.size());
    fmt::print("{:<{}} {:>11} {:>11} {:>9} {:>11} {:>9} {:>11}\n", "method", width, "weights", "prefill t/s",
               "x fp32", "decode t/s", "x fp32", "peak RSS");
    // A rate and its ratio to fp32, or dashes where --what left it out.
    auto rate = [](bool measured, double value, double fp32) {
      return measured ? fmt::format("{:>11.1f} {:>9.2f}", value, value / fp32) : fmt::format("{:>11} {:>9}", "-", "-");
    };
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::optional<int64_t>& peak = timings[i].peak_rss_bytes;
      fmt::print("{:<{}} {:>11} {} {} {:>11}\n", rows[i].first, width, FormatBytes(rows[i].second.memory.weights_bytes),
                 rate(prefill, timings[i].prefill, timings[0].prefill),
                 rate(decode, timings[i].decode, timings[0].decode), peak ? FormatBytes(*peak) : "n/a");
    }
  }
  if (tokenizer_bench) {
    fmt::print("tokenizer  {:.2f} MB/s  (cold cache, {} bytes)\n",
               out["tokenizer"]["mb_per_s"].get<double>(), out["tokenizer"]["bytes"].get<int64_t>());
  }
  fmt::print("peak RSS   {} (the process{})\n", FormatBytes(process_peak_rss),
             rows.empty() ? "" : "; per method above: the peak while it ran, its model loaded");
  return OkStatus();
}

}  // namespace

Command AddBenchCommand(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "time prefill, decode and the tokenizer (medians)");
  AddModelOptions(cmd, &args->model);
  cmd->add_option("--what", args->what, "comma-separated: prefill, decode, tokenizer")->capture_default_str();
  cmd->add_option("--tokens", args->tokens, "prefill window length (tokens)")->capture_default_str();
  cmd->add_option("--logits", args->logits,
                  "prefill logits at every position (all: the perplexity workload) or the last (a prompt)")
      ->capture_default_str();
  cmd->add_option("--decode-tokens", args->decode_tokens, "tokens decoded one at a time")->capture_default_str();
  cmd->add_option("--repeat", args->repeat, "timed runs per measurement, after one warm-up run; the median is reported")->capture_default_str();
  cmd->add_option("--text", args->text, "text for the tokenizer benchmark (default: the shipped held-out text)");
  cmd->add_option("--quant", args->quants,
                  "methods to time after fp32 in the same run, each a METHOD[:key=value,...] (repeatable)")
      ->group("Quantization");
  std::string presets;
  for (auto p : ScopePresets()) presets += (presets.empty() ? "" : ", ") + std::string(p);
  cmd->add_option("--scope", args->quant.scope, "which tensors: " + presets)->capture_default_str()->group("Quantization");
  cmd->add_option("--mode", args->quant.mode, "packed or simulate")->capture_default_str()->group("Quantization");
  cmd->add_option("--calib", args->quant.calib,
                  "calibration text for calibrated methods (default: as for --quant elsewhere)")
      ->group("Quantization");
  cmd->add_option("--calib-samples", args->quant.calib_samples, "calibration windows N (calibrated methods only)")
      ->capture_default_str()
      ->group("Quantization");
  cmd->add_option("--calib-len", args->quant.calib_len,
                  "tokens per calibration window L (default min(512, n_ctx); calibrated methods only)")
      ->group("Quantization");
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunBench(*args); }};
}

}  // namespace gpt2q
