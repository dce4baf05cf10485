// CompareModels: the reference once per window, every candidate beside it,
// statistics per scored token.
#include "eval/kl_divergence.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/aligned_buffer.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "kernels/logsumexp.h"

namespace gpt2q {
namespace {

// Per scored token: what the reference said, computed once per window.
struct ReferenceRow {
  double lse = 0;
  double nll = 0;
  int64_t top1 = 0;
};

// Per scored token and candidate: how it compared.
struct TokenComparison {
  double nll_reference = 0, nll_candidate = 0;
  double kld = 0;
  double delta_p = 0;  // p_candidate(target) − p_reference(target)
  bool same_top1 = false;
};

// What one candidate accumulates over the windows.
struct CandidateTally {
  std::vector<TokenComparison> rows;
  double forward_s = 0;
  int64_t peak_tracked = 0;
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

// The statistics of one candidate's comparisons (KLD mean, spread and quantiles,
// top-1 agreement, Δp) and both models' per-token NLLs.
KlStats SummariseComparisons(const std::vector<TokenComparison>& rows) {
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
  return stats;
}

bool SameCacheLayout(const GPT2Config& a, const GPT2Config& b) {
  return a.n_layer == b.n_layer && a.n_head == b.n_head && a.n_embd == b.n_embd;
}

}  // namespace

Result<std::vector<KlStats>> CompareModels(const GPT2& reference, std::span<const CompareCandidate> candidates,
                                           const std::vector<int32_t>& tokens, const PerplexityOptions& options,
                                           ThreadPool& pool) {
  const GPT2Config& config = reference.config();
  for (const CompareCandidate& c : candidates) {
    if (c.model->config().n_vocab != config.n_vocab || c.model->config().n_ctx != config.n_ctx) {
      return Status::Error("the models compared must have the same vocabulary and context");
    }
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
  const std::vector<EvalWindow> windows = PlanWindows(static_cast<int64_t>(tokens.size()), ctx, stride);
  int64_t total = 0, longest = 0, tokens_run = 0;
  for (const EvalWindow& w : windows) {
    total += w.scored();
    longest = std::max(longest, w.length());
  }
  // Allocated once: fresh pages for every window cost more than the forward
  // of a small model.
  AlignedBuffer ref_logits(longest * V * sizeof(float)), cand_logits(longest * V * sizeof(float));
  std::unique_ptr<KVCache> ref_cache, cand_cache;
  const GPT2Config* cand_cache_config = nullptr;
  std::vector<ReferenceRow> ref_rows;
  std::vector<CandidateTally> tallies(candidates.size());
  for (CandidateTally& t : tallies) t.rows.reserve(total);
  int64_t resident_total = 0;
  for (const CompareCandidate& c : candidates) resident_total += c.resident_bytes;
  double seconds_reference = 0;
  int64_t done = 0;

  for (const EvalWindow& w : windows) {
    const int64_t len = w.length();
    tokens_run += len;
    if (!ref_cache || ref_cache->capacity() != len) {
      ref_cache.reset();
      ref_cache = std::make_unique<KVCache>(config, 1, len);
    }
    ref_cache->Clear();
    Stopwatch watch;
    reference.Forward(tokens.data() + w.begin, 1, len, *ref_cache, LogitsMode::kAll, ref_logits.as<float>(), pool);
    seconds_reference += watch.Seconds();
    ref_rows.assign(w.scored(), ReferenceRow{});
    pool.ParallelFor(w.scored(), [&](int64_t i) {
      const int64_t row = w.first_scored + i;
      const float* x = ref_logits.as<float>() + row * V;
      ReferenceRow& r = ref_rows[i];
      r.lse = LogSumExp(x, V);
      r.nll = r.lse - x[tokens[w.begin + row + 1]];
      r.top1 = ArgMax(x, V);
    });

    for (size_t c = 0; c < candidates.size(); ++c) {
      const GPT2& candidate = *candidates[c].model;
      CandidateTally& tally = tallies[c];
      ResetTrackedPeak();
      if (!cand_cache || cand_cache->capacity() != len ||
          !SameCacheLayout(*cand_cache_config, candidate.config())) {
        cand_cache.reset();
        cand_cache = std::make_unique<KVCache>(candidate.config(), 1, len);
        cand_cache_config = &candidate.config();
      }
      cand_cache->Clear();
      Stopwatch cand_watch;
      candidate.Forward(tokens.data() + w.begin, 1, len, *cand_cache, LogitsMode::kAll, cand_logits.as<float>(),
                        pool);
      tally.forward_s += cand_watch.Seconds();
      const size_t offset = tally.rows.size();
      tally.rows.resize(offset + w.scored());
      pool.ParallelFor(w.scored(), [&](int64_t i) {
        const int64_t row = w.first_scored + i;
        const int32_t target = tokens[w.begin + row + 1];
        const float* x = ref_logits.as<float>() + row * V;
        const float* y = cand_logits.as<float>() + row * V;
        const ReferenceRow& r = ref_rows[i];
        const double lse_y = LogSumExp(y, V);
        TokenComparison& t = tally.rows[offset + i];
        t.nll_reference = r.nll;
        t.nll_candidate = lse_y - y[target];
        t.kld = KlDivergence(x, r.lse, y, lse_y, V);
        t.delta_p = std::exp(-t.nll_candidate) - std::exp(-t.nll_reference);
        t.same_top1 = r.top1 == ArgMax(y, V);
      });
      // Left out: the other candidates, and the reference's KV cache (kept across
      // windows here; it is the reference's, not this candidate's).
      const int64_t others = resident_total - candidates[c].resident_bytes + ref_cache->bytes();
      tally.peak_tracked = std::max(tally.peak_tracked, TrackedPeakBytes() - others);
    }
    done += w.scored();
    if (options.on_progress) options.on_progress(done, total);
  }

  std::vector<KlStats> out;
  out.reserve(candidates.size());
  for (size_t c = 0; c < candidates.size(); ++c) {
    KlStats stats = SummariseComparisons(tallies[c].rows);
    for (PerplexityResult* r : {&stats.reference, &stats.candidate}) {
      r->ctx = ctx;
      r->stride = stride;
      r->windows = static_cast<int64_t>(windows.size());
    }
    Summarise(stats.reference, seconds_reference);
    Summarise(stats.candidate, tallies[c].forward_s);
    for (PerplexityResult* r : {&stats.reference, &stats.candidate}) r->tokens_run = tokens_run;
    stats.reference.forward_s = seconds_reference;  // the same windows, alternating with the candidates
    stats.candidate.forward_s = tallies[c].forward_s;
    stats.candidate.peak_tracked_bytes = tallies[c].peak_tracked;
    stats.candidate.peak_rss_bytes = PeakRssBytes();
    out.push_back(std::move(stats));
  }
  return out;
}

Result<KlStats> CompareModels(const GPT2& reference, const GPT2& candidate,
                              const std::vector<int32_t>& tokens, const PerplexityOptions& options,
                              ThreadPool& pool) {
  const CompareCandidate one{&candidate, 0};
  GPT2Q_ASSIGN_OR_RETURN(std::vector<KlStats> stats, CompareModels(reference, std::span(&one, 1), tokens, options, pool));
  return std::move(stats.front());
}

}  // namespace gpt2q
