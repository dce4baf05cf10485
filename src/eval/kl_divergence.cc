// CompareModels: both models over the same windows, statistics per scored token.
#include "eval/kl_divergence.h"

#include <algorithm>
#include <cmath>

#include "core/aligned_buffer.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "kernels/logsumexp.h"

namespace gpt2q {
namespace {

// Per scored token: what both models said.
struct TokenComparison {
  double nll_reference = 0, nll_candidate = 0;
  double kld = 0;
  double delta_p = 0;  // p_candidate(target) − p_reference(target)
  bool same_top1 = false;
};

int64_t ArgMax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

// Fills a PerplexityResult's summary fields from its per-token NLLs.
void Summarise(PerplexityResult& r, double seconds) {
  const int64_t n = static_cast<int64_t>(r.token_nll.size());
  r.tokens_scored = n;
  r.nll_sum = 0;
  for (double v : r.token_nll) r.nll_sum += v;
  r.loss = r.nll_sum / static_cast<double>(n);
  double sq = 0;
  for (double v : r.token_nll) sq += (v - r.loss) * (v - r.loss);
  r.loss_stderr = n > 1 ? std::sqrt(sq / double(n - 1) / double(n)) : 0.0;
  r.ppl = std::exp(r.loss);
  r.ppl_stderr = r.ppl * r.loss_stderr;
  r.eval_s = seconds;
  r.tokens_per_s = seconds > 0 ? double(n) / seconds : 0.0;
}

}  // namespace

Result<KlStats> CompareModels(const GPT2& reference, const GPT2& candidate,
                              const std::vector<int32_t>& tokens, const PerplexityOptions& options,
                              ThreadPool& pool) {
  const GPT2Config& config = reference.config();
  if (candidate.config().n_vocab != config.n_vocab || candidate.config().n_ctx != config.n_ctx) {
    return Status::Error("the two models compared must have the same vocabulary and context");
  }
  const int64_t ctx = options.ctx.value_or(config.n_ctx);
  const int64_t stride = options.stride.value_or(ctx / 2);
  if (tokens.size() < 2 || ctx < 2 || ctx > config.n_ctx || stride < 1 || stride > ctx) {
    return Status::Error("comparison needs at least 2 tokens, ctx in [2, " + std::to_string(config.n_ctx) +
                         "] and stride in [1, ctx]");
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= config.n_vocab) return Status::Error("token id " + std::to_string(t) + " out of range");
  }

  const int64_t V = config.n_vocab;
  std::vector<TokenComparison> rows;
  double seconds_reference = 0, seconds_candidate = 0;
  int64_t tokens_run = 0;
  const std::vector<EvalWindow> windows = PlanWindows(static_cast<int64_t>(tokens.size()), ctx, stride);
  int64_t total = 0;
  for (const auto& w : windows) total += w.scored();
  for (const EvalWindow& w : windows) {
    const int64_t len = w.length();
    tokens_run += len;
    AlignedBuffer ref_logits(len * V * sizeof(float)), cand_logits(len * V * sizeof(float));
    {
      Stopwatch watch;
      KVCache cache(config, 1, len);
      reference.Forward(tokens.data() + w.begin, 1, len, cache, LogitsMode::kAll, ref_logits.as<float>(), pool);
      seconds_reference += watch.Seconds();
    }
    {
      Stopwatch watch;
      KVCache cache(candidate.config(), 1, len);
      candidate.Forward(tokens.data() + w.begin, 1, len, cache, LogitsMode::kAll, cand_logits.as<float>(), pool);
      seconds_candidate += watch.Seconds();
    }
    const size_t offset = rows.size();
    rows.resize(offset + w.scored());
    pool.ParallelFor(w.scored(), [&](int64_t i) {
      const int64_t row = w.first_scored + i;
      const int32_t target = tokens[w.begin + row + 1];
      const float* x = ref_logits.as<float>() + row * V;
      const float* y = cand_logits.as<float>() + row * V;
      const double lse_x = LogSumExp(x, V), lse_y = LogSumExp(y, V);
      TokenComparison& c = rows[offset + i];
      c.nll_reference = lse_x - x[target];
      c.nll_candidate = lse_y - y[target];
      c.kld = KlDivergence(x, lse_x, y, lse_y, V);
      c.delta_p = std::exp(-c.nll_candidate) - std::exp(-c.nll_reference);
      c.same_top1 = ArgMax(x, V) == ArgMax(y, V);
    });
    if (options.on_progress) options.on_progress(static_cast<int64_t>(rows.size()), total);
  }

  KlStats stats;
  const int64_t n = static_cast<int64_t>(rows.size());
  stats.tokens = n;
  std::vector<double> kld(n);
  double sum = 0, sq = 0, agree = 0, dp2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    kld[i] = rows[i].kld;
    sum += kld[i];
    agree += rows[i].same_top1;
    dp2 += rows[i].delta_p * rows[i].delta_p;
    stats.reference.token_nll.push_back(rows[i].nll_reference);
    stats.candidate.token_nll.push_back(rows[i].nll_candidate);
  }
  stats.kld_mean = sum / double(n);
  for (double k : kld) sq += (k - stats.kld_mean) * (k - stats.kld_mean);
  stats.kld_stderr = n > 1 ? std::sqrt(sq / double(n - 1) / double(n)) : 0.0;
  std::sort(kld.begin(), kld.end());
  stats.kld_median = n % 2 ? kld[n / 2] : 0.5 * (kld[n / 2 - 1] + kld[n / 2]);
  stats.kld_p99 = kld[std::min<int64_t>(n - 1, static_cast<int64_t>(std::ceil(0.99 * double(n))) - 1)];
  stats.kld_max = kld.back();
  stats.top1_agree = agree / double(n);
  stats.top1_agree_stderr = std::sqrt(stats.top1_agree * (1 - stats.top1_agree) / double(n));
  stats.rms_delta_p = std::sqrt(dp2 / double(n));
  for (PerplexityResult* r : {&stats.reference, &stats.candidate}) {
    r->ctx = ctx;
    r->stride = stride;
    r->windows = static_cast<int64_t>(windows.size());
  }
  Summarise(stats.reference, seconds_reference);
  Summarise(stats.candidate, seconds_candidate);
  for (PerplexityResult* r : {&stats.reference, &stats.candidate}) r->tokens_run = tokens_run;
  stats.reference.forward_s = seconds_reference;  // the two alternate window by window
  stats.candidate.forward_s = seconds_candidate;
  stats.candidate.peak_tracked_bytes = TrackedPeakBytes();
  stats.candidate.peak_rss_bytes = PeakRssBytes();
  return stats;
}

}  // namespace gpt2q
