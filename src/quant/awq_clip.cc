// AwqClipSearch: llm-awq's auto_clip_layer, batched over rows with sgemm.
#include "quant/awq_clip.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "formats/minmax_quantizer.h"

namespace gpt2q {
namespace {

// Rows per task: one sgemm [kRowChunk, group] x [group, n_tokens] per step.
constexpr int64_t kRowChunk = 64;
// llm-awq's initial min_errs.
constexpr double kInitialError = 1e9;

std::string Prefix(std::string_view name) { return "awq clip: " + std::string(name) + ": "; }

}  // namespace

int64_t AwqClipStride(int64_t n_rows, int64_t n_sample) {
  return std::max<int64_t>(1, n_sample > 0 ? n_rows / n_sample : 1);
}

std::vector<float> AwqClipTokens(const float* x, int64_t n_rows, int64_t n_in, int64_t n_sample) {
  const int64_t stride = AwqClipStride(n_rows, n_sample);
  std::vector<float> out;
  out.reserve(((n_rows + stride - 1) / stride) * n_in);
  for (int64_t t = 0; t < n_rows; t += stride) out.insert(out.end(), x + t * n_in, x + (t + 1) * n_in);
  return out;
}

Result<AwqClipResult> AwqClipSearch(std::string_view name, float* w, int64_t rows, int64_t cols,
                                    const float* tokens, int64_t n_tokens, int bits, int64_t group,
                                    ThreadPool& pool) {
  if (bits < 1 || bits > 8) {
    return Status::Error(Prefix(name) + "bits: expected 1..8, got " + std::to_string(bits));
  }
  if (group != -1 && group < 1) {
    return Status::Error(Prefix(name) + "group: expected -1 (per row) or a positive column count, got " +
                         std::to_string(group));
  }
  if (rows < 1 || cols < 1 || n_tokens < 1) {
    return Status::Error(Prefix(name) + "expected at least a 1x1 weight and 1 token, got " +
                         std::to_string(rows) + "x" + std::to_string(cols) + " and " + std::to_string(n_tokens) +
                         " tokens");
  }
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(w[i])) {
      return Status::Error(Prefix(name) + "weight [" + std::to_string(i / cols) + ", " + std::to_string(i % cols) +
                           "] is not finite");
    }
  }
  for (int64_t i = 0; i < n_tokens * cols; ++i) {
    if (!std::isfinite(tokens[i])) {
      return Status::Error(Prefix(name) + "calibration input [" + std::to_string(i / cols) + ", " +
                           std::to_string(i % cols) + "] is not finite");
    }
  }
  AwqClipResult result;
  result.group_size = group == -1 ? cols : group;
  result.n_groups = (cols + result.group_size - 1) / result.group_size;
  const int64_t gs = result.group_size, n_groups = result.n_groups;
  result.max_val.resize(rows * n_groups);
  result.step.resize(rows * n_groups);
  const int32_t maxq = MaxCode(bits);

  const int64_t n_chunks = (rows + kRowChunk - 1) / kRowChunk;
  pool.ParallelFor(n_chunks, [&](int64_t chunk) {
    const int64_t r0 = chunk * kRowChunk;
    const int64_t nr = std::min(kRowChunk, rows - r0);
    std::vector<float> org_out(nr * n_tokens), cur_out(nr * n_tokens), qw(nr * gs);
    std::vector<float> org_max(nr), best_max(nr);
    std::vector<double> min_err(nr);
    std::vector<uint8_t> best_step(nr);
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t c0 = g * gs, len = std::min(gs, cols - c0);
      const float* wg = w + r0 * cols + c0;  // [nr, len], row stride cols
      // org_out [nr, n_tokens] = W_g · X_gᵀ
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(nr),
                  static_cast<blasint>(n_tokens), static_cast<blasint>(len), 1.0f, wg, static_cast<blasint>(cols),
                  tokens + c0, static_cast<blasint>(cols), 0.0f, org_out.data(), static_cast<blasint>(n_tokens));
      for (int64_t r = 0; r < nr; ++r) {
        float m = 0;
        for (int64_t c = 0; c < len; ++c) m = std::max(m, std::fabs(wg[r * cols + c]));
        org_max[r] = m;
        best_max[r] = m;
        min_err[r] = kInitialError;
        best_step[r] = 0;
      }
      for (int step = 0; step < kAwqClipSteps; ++step) {
        // fp32 tensor × Python float, as llm-awq: org_max_val * (1 - i_s / n_grid).
        const float shrink = static_cast<float>(1.0 - static_cast<double>(step) / kAwqClipGrid);
        for (int64_t r = 0; r < nr; ++r) {
          const float hi = org_max[r] * shrink, lo = -hi;
          float* q = qw.data() + r * len;
          for (int64_t c = 0; c < len; ++c) q[c] = std::clamp(wg[r * cols + c], lo, hi);
          const GroupQuant gq = AwqGroupQuant(q, len, bits);
          for (int64_t c = 0; c < len; ++c) q[c] = DequantizeCode(QuantizeToCode(q[c], gq, maxq), gq);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(nr),
                    static_cast<blasint>(n_tokens), static_cast<blasint>(len), 1.0f, qw.data(),
                    static_cast<blasint>(len), tokens + c0, static_cast<blasint>(cols), 0.0f, cur_out.data(),
                    static_cast<blasint>(n_tokens));
        for (int64_t r = 0; r < nr; ++r) {
          const float* a = cur_out.data() + r * n_tokens;
          const float* b = org_out.data() + r * n_tokens;
          double sum = 0;
          for (int64_t t = 0; t < n_tokens; ++t) {
            const double d = static_cast<double>(a[t] - b[t]);
            sum += d * d;
          }
          const double err = sum / static_cast<double>(n_tokens);
          if (err < min_err[r]) {
            min_err[r] = err;
            best_max[r] = org_max[r] * shrink;
            best_step[r] = static_cast<uint8_t>(step);
          }
        }
      }
      for (int64_t r = 0; r < nr; ++r) {
        result.max_val[(r0 + r) * n_groups + g] = best_max[r];
        result.step[(r0 + r) * n_groups + g] = best_step[r];
      }
    }
    // Clamp only after every group of the chunk was searched on the unclipped weights.
    for (int64_t r = 0; r < nr; ++r) {
      float* wr = w + (r0 + r) * cols;
      for (int64_t g = 0; g < n_groups; ++g) {
        const float hi = result.max_val[(r0 + r) * n_groups + g];
        const int64_t c0 = g * gs, len = std::min(gs, cols - c0);
        for (int64_t c = c0; c < c0 + len; ++c) wr[c] = std::clamp(wr[c], -hi, hi);
      }
    }
  });
  return result;
}

}  // namespace gpt2q
