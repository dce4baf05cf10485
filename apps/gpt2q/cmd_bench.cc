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
#include "kernels/fma_peak.h"
#include "kernels/read_bandwidth.h"
#include "quant/memory.h"
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
  int64_t max_resident_mib = 4096;  // quantized models held at once, timed round-robin with fp32
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// What every model is timed on, and the buffers its runs write: the same
// tokens for all, one prefill window and a decode sequence from an empty cache.
struct Workload {
  std::vector<int32_t> prefill_tokens, decode_tokens;
  bool all_logits = true;
  AlignedBuffer prefill_logits, decode_logits;
  std::unique_ptr<KVCache> prefill_cache, decode_cache;
};

Workload MakeWorkload(const GPT2Config& config, const BenchArgs& args, bool prefill, bool decode) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int32_t> random_token(0, static_cast<int32_t>(config.n_vocab) - 1);
  Workload w;
  w.all_logits = args.logits == "all";
  if (prefill) {
    // One window with logits at every position (the perplexity workload) or at
    // the last one (a prompt, as llama-bench's pp test).
    w.prefill_tokens.resize(args.tokens);
    for (int32_t& t : w.prefill_tokens) t = random_token(rng);
    w.prefill_logits = AlignedBuffer(static_cast<size_t>((w.all_logits ? args.tokens : 1) * config.n_vocab) * 4);
    w.prefill_cache = std::make_unique<KVCache>(config, 1, args.tokens);
  }
  if (decode) {
    w.decode_tokens.resize(args.decode_tokens);
    for (int32_t& t : w.decode_tokens) t = random_token(rng);
    w.decode_logits = AlignedBuffer(static_cast<size_t>(config.n_vocab) * sizeof(float));
    w.decode_cache = std::make_unique<KVCache>(config, 1, args.decode_tokens);
  }
  return w;
}

// Tokens per second of one prefill of the workload's window.
double PrefillRate(const GPT2& model, Workload& w, ThreadPool& pool) {
  const int64_t n = static_cast<int64_t>(w.prefill_tokens.size());
  w.prefill_cache->Clear();
  Stopwatch watch;
  model.Forward(w.prefill_tokens.data(), 1, n, *w.prefill_cache, w.all_logits ? LogitsMode::kAll : LogitsMode::kLast,
                w.prefill_logits.as<float>(), pool);
  return static_cast<double>(n) / watch.Seconds();
}

// Tokens per second of batch-1 decode: one token per Forward call from an
// empty cache, the logits of that token.
double DecodeRate(const GPT2& model, Workload& w, ThreadPool& pool) {
  w.decode_cache->Clear();
  Stopwatch watch;
  for (int32_t& token : w.decode_tokens) {
    model.Forward(&token, 1, 1, *w.decode_cache, LogitsMode::kLast, w.decode_logits.as<float>(), pool);
  }
  return static_cast<double>(w.decode_tokens.size()) / watch.Seconds();
}

// One model in the rotation: its runs, and its own peak RSS (none where the
// kernel cannot reset the peak).
struct Contender {
  std::unique_ptr<GPT2> owned;  // a quantized copy; fp32 is the loaded model itself
  const GPT2* model = nullptr;
  AppliedQuantization applied;
  int64_t resident_rss = 0;  // RSS its loading added
  std::vector<double> prefill_runs, decode_runs;
  double decode_bytes = 0;  // read per decode step (DecodeReadBytes, mean context)
  std::optional<int64_t> peak_rss_bytes;
};

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
  if (args.max_resident_mib < 0 || args.max_resident_mib > (int64_t{1} << 30)) {
    return Status::Error(fmt::format("--max-resident {} must be in [0, 2^30] MiB", args.max_resident_mib));
  }
  if (args.logits != "all" && args.logits != "last") {
    return Status::Error("--logits: '" + args.logits + "'; valid: all, last");
  }
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  const int64_t rss_before_model = CurrentRssBytes();
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(args.model, *pool));
  const int64_t fp32_resident_rss = CurrentRssBytes() - rss_before_model;
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

  // fp32-equivalent work of one prefill token: what an fp32 engine would compute.
  const double flops_per_token = config.ForwardFlops(args.tokens, args.logits == "all") / double(args.tokens);
  nlohmann::json out = {{"model", loaded.name}, {"threads", args.common.threads}, {"repeat", args.repeat}};
  ProgressBar progress("bench", args.repeat * ((prefill + decode) * (1 + static_cast<int64_t>(args.quants.size())) +
                                               tokenizer_bench));
  int64_t steps = 0;
  auto tick = [&] { progress.Update(++steps); };

  // Every model is timed round-robin: repeat r runs each model of a group once
  // before repeat r + 1, so a busy minute lands on all of them alike. A group is
  // fp32 and the quantized models that fit --max-resident; each model's peak RSS
  // is its own: the RSS with no model loaded plus what its loading and runs added.
  int64_t process_peak_rss = 0;
  std::vector<double> bandwidth_runs;  // read bytes per second, one per round
  std::vector<double> fma_runs;        // fp32 multiply-add peak, flop/s, one per round
  int64_t probe_size = 0;
  std::vector<Contender> timed;  // fp32 first, then --quant in order
  if (prefill || decode) {
    Workload work = MakeWorkload(config, args, prefill, decode);
    const int64_t rss_floor = CurrentRssBytes() - fp32_resident_rss;
    // Decode's yardstick, measured once per round beside the models (its buffer
    // is left out of every model's peak RSS).
    std::optional<ReadBandwidthProbe> probe;
    if (decode) {
      probe.emplace();
      probe->Measure(*pool);  // warm-up
    }
    const int64_t probe_bytes = probe ? probe->bytes() : 0;
    probe_size = probe_bytes;
    const double mean_context = (static_cast<double>(args.decode_tokens) + 1) / 2;
    auto warm_up = [&](const GPT2& model) {  // page faults, caches; also where its peak RSS is reached
      if (prefill) PrefillRate(model, work, *pool);
      if (decode) DecodeRate(model, work, *pool);
    };
    auto run_rounds = [&](std::vector<Contender*> group, bool tick_fp32) {
      for (int r = 0; r < args.repeat; ++r) {
        if (probe) bandwidth_runs.push_back(probe->Measure(*pool));
        if (prefill) fma_runs.push_back(MeasureFp32FmaPeak(*pool));
        for (Contender* c : group) {
          if (prefill) c->prefill_runs.push_back(PrefillRate(*c->model, work, *pool));
          if (decode) c->decode_runs.push_back(DecodeRate(*c->model, work, *pool));
          if (c != group.front() || tick_fp32) {
            for (int k = 0; k < prefill + decode; ++k) tick();
          }
        }
      }
    };
    Contender fp32;
    fp32.model = loaded.model.get();
    GPT2Q_ASSIGN_OR_RETURN(fp32.applied, ApplyQuantOptions(QuantOptions{}, loaded, *pool));
    process_peak_rss = std::max(process_peak_rss, PeakRssBytes());
    fp32.decode_bytes = DecodeReadBytes(fp32.model->weights(), mean_context);
    const bool fp32_peak_reset = ResetPeakRss();
    warm_up(*fp32.model);
    if (fp32_peak_reset) fp32.peak_rss_bytes = PeakRssBytes() - probe_bytes;
    timed.push_back(std::move(fp32));
    std::vector<Contender> group;
    int64_t group_rss = 0;
    bool first_group = true;
    auto flush = [&] {
      std::vector<Contender*> rotation = {&timed.front()};
      for (Contender& c : group) rotation.push_back(&c);
      run_rounds(rotation, first_group);
      first_group = false;
      for (Contender& c : group) {
        c.owned.reset();  // its runs are kept; its weights go
        timed.push_back(std::move(c));
      }
      group.clear();
      group_rss = 0;
    };
    for (const std::string& quant : args.quants) {
      malloc_trim(0);
      const int64_t rss_before = CurrentRssBytes();
      // A fresh copy of the model for every method (quantization works in place).
      GPT2Q_ASSIGN_OR_RETURN(LoadedModel copy, LoadModel(args.model, *pool));
      QuantOptions options = args.quant;
      options.quant = quant;
      Contender c;
      GPT2Q_ASSIGN_OR_RETURN(c.applied, ApplyQuantOptions(options, copy, *pool, CalibrationSourceOf(copy)));
      c.owned = std::move(copy.model);
      c.model = c.owned.get();
      c.decode_bytes = DecodeReadBytes(c.model->weights(), mean_context);
      copy = LoadedModel();
      malloc_trim(0);  // the fp32 weights that quantization replaced go back to the kernel
      process_peak_rss = std::max(process_peak_rss, PeakRssBytes());
      const bool peak_reset = ResetPeakRss();
      warm_up(*c.model);
      if (peak_reset) c.peak_rss_bytes = rss_floor + PeakRssBytes() - rss_before;
      c.resident_rss = std::max<int64_t>(0, CurrentRssBytes() - rss_before);
      group_rss += c.resident_rss;
      group.push_back(std::move(c));
      if (group_rss >= args.max_resident_mib * (int64_t{1} << 20)) flush();
    }
    if (!group.empty() || first_group) flush();
  }
  if (!timed.empty()) {
    nlohmann::json table = nlohmann::json::array();
    for (Contender& c : timed) {
      nlohmann::json row = QuantizationJson(c.applied);
      row.erase("tensors");
      if (prefill) {
        row["prefill_tokens_per_s"] = Median(c.prefill_runs);
        row["prefill_runs"] = c.prefill_runs;
        row["prefill_vs_fp32"] = Median(c.prefill_runs) / Median(timed[0].prefill_runs);
        row["prefill_gflop_per_s"] = Median(c.prefill_runs) * flops_per_token / 1e9;
        row["prefill_vs_fp32_peak"] = Median(c.prefill_runs) * flops_per_token / Median(fma_runs);
      }
      if (decode) {
        row["decode_tokens_per_s"] = Median(c.decode_runs);
        row["decode_runs"] = c.decode_runs;
        row["decode_vs_fp32"] = Median(c.decode_runs) / Median(timed[0].decode_runs);
        row["decode_bytes_per_token"] = c.decode_bytes;
        row["decode_gb_per_s"] = Median(c.decode_runs) * c.decode_bytes / 1e9;
        row["decode_vs_bandwidth"] = Median(c.decode_runs) * c.decode_bytes / Median(bandwidth_runs);
      }
      row["peak_rss_bytes"] = c.peak_rss_bytes ? nlohmann::json(*c.peak_rss_bytes) : nullptr;
      table.push_back(row);
    }
    out["methods"] = table;
    out["prefill_tokens"] = args.tokens;
    out["prefill_logits"] = args.logits;
    out["decode_tokens"] = args.decode_tokens;
    if (prefill) {
      out["prefill_flops_per_token"] = flops_per_token;
      out["fp32_fma_peak_gflop_per_s"] = Median(fma_runs) / 1e9;
      out["fp32_fma_peak_runs"] = fma_runs;
    }
    if (decode) {
      out["read_bandwidth_gb_per_s"] = Median(bandwidth_runs) / 1e9;
      out["read_bandwidth_runs"] = bandwidth_runs;
    }
    out["interleaved"] = "round-robin: each repeat runs every model of a group once (fp32 in every group)";
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
  fmt::print("model      {} ({} threads, median of {}, methods interleaved round-robin)\n", loaded.name,
             args.common.threads, args.repeat);
  if (!timed.empty()) {
    std::vector<std::string> workload;
    if (prefill) {
      workload.push_back(fmt::format("{} tokens prefilled ({} logits)", args.tokens,
                                     args.logits == "all" ? "all" : "last-token"));
    }
    if (decode) workload.push_back(fmt::format("{} decoded at batch 1", args.decode_tokens));
    fmt::print("{}\n", fmt::join(workload, ", "));
    size_t width = 28;  // the method column fits the longest spec
    for (const Contender& c : timed) width = std::max(width, c.applied.spec.size());
    fmt::print("{:<{}} {:>11} {:>11} {:>9} {:>7} {:>11} {:>9} {:>7} {:>6} {:>11}\n", "method", width, "weights",
               "prefill t/s", "x fp32", "of peak", "decode t/s", "x fp32", "GB/s", "of bw", "peak RSS");
    // A rate and its ratio to fp32, or dashes where --what left it out.
    auto rate = [](bool measured, const std::vector<double>& runs, const std::vector<double>& fp32) {
      return measured ? fmt::format("{:>11.1f} {:>9.2f}", Median(runs), Median(runs) / Median(fp32))
                      : fmt::format("{:>11} {:>9}", "-", "-");
    };
    // Prefill's fp32-equivalent flop/s as a share of the fp32 multiply-add peak.
    auto arithmetic = [&](const Contender& c) {
      if (!prefill) return fmt::format("{:>7}", "-");
      return fmt::format("{:>6.0f}%", 100 * Median(c.prefill_runs) * flops_per_token / Median(fma_runs));
    };
    // The bytes decode reads per second, and that as a share of the read bandwidth.
    auto traffic = [&](const Contender& c) {
      if (!decode) return fmt::format("{:>7} {:>6}", "-", "-");
      const double bytes_per_s = Median(c.decode_runs) * c.decode_bytes;
      return fmt::format("{:>7.1f} {:>5.0f}%", bytes_per_s / 1e9, 100 * bytes_per_s / Median(bandwidth_runs));
    };
    for (const Contender& c : timed) {
      fmt::print("{:<{}} {:>11} {} {} {} {} {:>11}\n", c.applied.spec, width,
                 FormatBytes(c.applied.memory.weights_bytes), rate(prefill, c.prefill_runs, timed[0].prefill_runs),
                 arithmetic(c), rate(decode, c.decode_runs, timed[0].decode_runs), traffic(c),
                 c.peak_rss_bytes ? FormatBytes(*c.peak_rss_bytes) : "n/a");
    }
    if (prefill) {
      fmt::print("fp32 peak  {:.1f} GFLOP/s ({} threads of 8-wide FMA chains, once per round; of peak = prefill "
                 "tokens/s x {:.1f} MFLOP a token, the fp32-equivalent work)\n",
                 Median(fma_runs) / 1e9, args.common.threads, flops_per_token / 1e6);
    }
    if (decode) {
      fmt::print("read bandwidth {:.1f} GB/s (a {}-thread streaming sum over {}, once per round; GB/s = decode "
                 "tokens/s x the bytes a step reads: weights, KV cache)\n",
                 Median(bandwidth_runs) / 1e9, args.common.threads, FormatBytes(probe_size));
    }
  }
  if (tokenizer_bench) {
    fmt::print("tokenizer  {:.2f} MB/s  (cold cache, {} bytes)\n",
               out["tokenizer"]["mb_per_s"].get<double>(), out["tokenizer"]["bytes"].get<int64_t>());
  }
  fmt::print("peak RSS   {} (the process{})\n", FormatBytes(process_peak_rss),
             timed.empty() ? "" : "; per method above: with no model loaded, plus its own model and runs");
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
  cmd->add_option("--max-resident", args->max_resident_mib,
                  "MiB of quantized models held at once and timed round-robin with fp32 (0: one at a time)")
      ->capture_default_str();
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
