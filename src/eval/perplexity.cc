// Sliding-window perplexity (see perplexity.h).
#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "core/aligned_buffer.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "kernels/logsumexp.h"
#include "model/kv_cache.h"

namespace gpt2q {

std::vector<EvalWindow> PlanWindows(int64_t n_tokens, int64_t ctx, int64_t stride) {
  // Mirrors window_nll: the window [begin, end) scores the last (end - prev_end)
  // of its (end - begin - 1) predictions, all of them in the first window.
  std::vector<EvalWindow> windows;
  int64_t prev_end = 0;
  for (int64_t begin = 0; begin < n_tokens; begin += stride) {
    int64_t end = std::min(begin + ctx, n_tokens);
    int64_t trg_len = end - prev_end;
    int64_t n_pred = end - begin - 1;
    EvalWindow window{begin, end, std::max<int64_t>(0, n_pred - trg_len)};
    if (window.scored() > 0) windows.push_back(window);
    prev_end = end;
    if (end == n_tokens) break;
  }
  return windows;
}

double TokenNll(const float* logits, int64_t n_vocab, int32_t target) {
  return LogSumExp(logits, n_vocab) - static_cast<double>(logits[target]);
}

Result<PerplexityResult> EvaluatePerplexity(const GPT2& model, const std::vector<int32_t>& tokens,
                                            const PerplexityOptions& options, ThreadPool& pool) {
  const GPT2Config& config = model.config();
  const int64_t n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2) {
    return Status::Error("perplexity: the text has " + std::to_string(n_tokens) +
                         " token(s); at least 2 are needed");
  }
  for (int64_t i = 0; i < n_tokens; ++i) {
    if (tokens[i] < 0 || tokens[i] >= config.n_vocab) {
      return Status::Error("perplexity: token " + std::to_string(i) + " has id " +
                           std::to_string(tokens[i]) + ", expected [0, " +
                           std::to_string(config.n_vocab) + ")");
    }
  }
  const int64_t ctx = options.ctx.value_or(config.n_ctx);
  if (ctx < 2 || ctx > config.n_ctx) {
    return Status::Error("perplexity: ctx " + std::to_string(ctx) + " is outside [2, n_ctx = " +
                         std::to_string(config.n_ctx) + "]");
  }
  const int64_t stride = options.stride.value_or(std::max<int64_t>(1, ctx / 2));
  if (stride < 1 || stride > ctx) {
    return Status::Error("perplexity: stride " + std::to_string(stride) + " is outside [1, ctx = " +
                         std::to_string(ctx) + "]");
  }
  if (options.batch < 1) {
    return Status::Error("perplexity: batch " + std::to_string(options.batch) + " must be >= 1");
  }

  ResetTrackedPeak();
  ResetPeakRss();
  Stopwatch stopwatch;
  PerplexityResult result;
  result.ctx = ctx;
  result.stride = stride;
  const std::vector<EvalWindow> windows = PlanWindows(n_tokens, ctx, stride);
  result.windows = static_cast<int64_t>(windows.size());
  int64_t total_scored = 0;
  for (const EvalWindow& w : windows) total_scored += w.scored();
  result.token_nll.reserve(total_scored);

  const int64_t n_vocab = config.n_vocab;
  std::vector<int32_t> batch_tokens;
  std::vector<double> row_nll;
  std::unique_ptr<KVCache> cache;
  AlignedBuffer logits;
  for (size_t first = 0; first < windows.size();) {
    // Group consecutive windows of equal length.
    size_t last = first + 1;
    while (last < windows.size() && static_cast<int64_t>(last - first) < options.batch &&
           windows[last].length() == windows[first].length()) {
      ++last;
    }
    const int64_t batch = static_cast<int64_t>(last - first);
    const int64_t len = windows[first].length();
    batch_tokens.resize(batch * len);
    for (int64_t b = 0; b < batch; ++b) {
      std::copy(tokens.begin() + windows[first + b].begin, tokens.begin() + windows[first + b].end,
                batch_tokens.begin() + b * len);
    }
    // Buffers are reused while the shape stays (every full window has one shape).
    if (!cache || cache->batch() != batch || cache->capacity() != len) {
      cache.reset();
      logits = AlignedBuffer();
      cache = std::make_unique<KVCache>(config, batch, len);
      logits = AlignedBuffer(static_cast<size_t>(batch * len * n_vocab) * sizeof(float));
    }
    cache->Clear();
    float* logits_data = logits.as<float>();
    Stopwatch forward;
    model.Forward(batch_tokens.data(), batch, len, *cache, LogitsMode::kAll, logits_data, pool);
    result.forward_s += forward.Seconds();
    result.tokens_run += batch * len;

    for (int64_t b = 0; b < batch; ++b) {
      const EvalWindow& w = windows[first + b];
      const int64_t scored = w.scored();
      const float* window_logits = logits_data + b * len * n_vocab;
      row_nll.assign(scored, 0.0);
      pool.ParallelFor(scored, [&](int64_t i) {
        const int64_t row = w.first_scored + i;
        row_nll[i] = TokenNll(window_logits + row * n_vocab, n_vocab, tokens[w.begin + row + 1]);
      });
      for (int64_t i = 0; i < scored; ++i) {
        const int64_t row = w.first_scored + i;
        if (options.on_scored_row) options.on_scored_row(w.begin + row + 1, window_logits + row * n_vocab);
        result.nll_sum += row_nll[i];
        result.token_nll.push_back(row_nll[i]);
      }
    }
    if (options.on_progress) options.on_progress(static_cast<int64_t>(result.token_nll.size()), total_scored);
    first = last;
  }

  const int64_t n = static_cast<int64_t>(result.token_nll.size());
  result.tokens_scored = n;
  result.loss = result.nll_sum / static_cast<double>(n);
  double sq = 0;
  for (double nll : result.token_nll) sq += (nll - result.loss) * (nll - result.loss);
  result.loss_stderr = n > 1 ? std::sqrt(sq / static_cast<double>(n - 1) / static_cast<double>(n)) : 0.0;
  result.ppl = std::exp(result.loss);
  result.ppl_stderr = result.ppl * result.loss_stderr;
  result.eval_s = stopwatch.Seconds();
  result.tokens_per_s = result.eval_s > 0 ? static_cast<double>(n) / result.eval_s : 0.0;
  result.peak_tracked_bytes = TrackedPeakBytes();
  result.peak_rss_bytes = PeakRssBytes();
  return result;
}

}  // namespace gpt2q
