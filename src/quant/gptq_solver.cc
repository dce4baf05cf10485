// GptqQuantize: gptq.py's fasterquant for one layer, rows in fixed chunks.
#include "quant/gptq_solver.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "kernels/cholesky.h"

namespace gpt2q {
namespace {

// Rows per task. Every row runs the same column loop against the shared Hinv,
// so a chunk is a unit of work whose result does not depend on the others.
constexpr int64_t kRowChunk = 32;

std::string Prefix(std::string_view name) { return "gptq: " + std::string(name) + ": "; }

}  // namespace

Status ValidateGptqOptions(const GptqOptions& options) {
  if (options.bits != 2 && options.bits != 3 && options.bits != 4 && options.bits != 8) {
    return Status::Error("gptq: option bits: expected 2, 3, 4 or 8, got " + std::to_string(options.bits));
  }
  if (options.group != -1 && options.group < 1) {
    return Status::Error("gptq: option group: expected -1 (per row) or a positive column count, got " +
                         std::to_string(options.group));
  }
  if (options.block < 1) {
    return Status::Error("gptq: option block: expected a positive column count, got " +
                         std::to_string(options.block));
  }
  if (!std::isfinite(options.damp) || options.damp < 0) {
    return Status::Error("gptq: option damp: expected a finite value >= 0, got " + std::to_string(options.damp));
  }
  return OkStatus();
}

Result<GptqResult> GptqQuantize(std::string_view name, const float* w, int64_t rows, int64_t cols,
                                std::vector<float> h, const GptqOptions& options, ThreadPool& pool) {
  GPT2Q_RETURN_IF_ERROR(ValidateGptqOptions(options));
  if (rows < 1 || cols < 1) {
    return Status::Error(Prefix(name) + "expected a weight of at least 1x1, got " + std::to_string(rows) + "x" +
                         std::to_string(cols));
  }
  if (static_cast<int64_t>(h.size()) != cols * cols) {
    return Status::Error(Prefix(name) + "expected a Hessian of " + std::to_string(cols) + "x" +
                         std::to_string(cols) + " values, got " + std::to_string(h.size()));
  }
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(w[i])) {
      return Status::Error(Prefix(name) + "weight [" + std::to_string(i / cols) + ", " + std::to_string(i % cols) +
                           "] is not finite");
    }
  }
  for (int64_t i = 0; i < cols * cols; ++i) {
    if (!std::isfinite(h[i])) {
      return Status::Error(Prefix(name) + "Hessian [" + std::to_string(i / cols) + ", " +
                           std::to_string(i % cols) + "] is not finite (calibration inputs overflow?)");
    }
  }

  GptqResult result;
  result.rows = rows;
  result.cols = cols;
  result.group_size = options.group == -1 ? cols : options.group;
  result.n_groups = (cols + result.group_size - 1) / result.group_size;
  const int64_t gs = result.group_size, n_groups = result.n_groups;
  const int32_t maxq = MaxCode(options.bits);
  const bool grouped = options.group != -1;
  const bool static_groups = grouped && options.act_order;
  result.params.resize(rows * n_groups);
  result.codes.resize(rows * cols);
  result.dequantized.resize(rows * cols);

  // Per-row parameters from the original W, before dead columns are zeroed.
  if (!grouped) {
    for (int64_t r = 0; r < rows; ++r) {
      result.params[r] = GptqGroupQuant(w + r * cols, cols, options.bits, options.sym);
    }
  }

  // Dead columns: no calibration input ever reached them.
  std::vector<char> dead(cols, 0);
  for (int64_t j = 0; j < cols; ++j) {
    if (h[j * cols + j] == 0.0f) {
      dead[j] = 1;
      h[j * cols + j] = 1.0f;
      ++result.dead_columns;
    }
  }
  // Row r of W with dead columns zeroed, in original column order.
  auto zeroed_row = [&](int64_t r, std::vector<float>& out) {
    out.resize(cols);
    for (int64_t j = 0; j < cols; ++j) out[j] = dead[j] ? 0.0f : w[r * cols + j];
  };

  // Static groups: parameters of the original column groups, before the permutation.
  if (static_groups) {
    std::vector<float> row;
    for (int64_t r = 0; r < rows; ++r) {
      zeroed_row(r, row);
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t c0 = g * gs;
        result.params[r * n_groups + g] =
            GptqGroupQuant(row.data() + c0, std::min(gs, cols - c0), options.bits, options.sym);
      }
    }
  }

  // perm[k] = the original column quantized k-th.
  std::vector<int64_t> perm(cols);
  std::iota(perm.begin(), perm.end(), int64_t{0});
  if (options.act_order) {
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return h[a * cols + a] > h[b * cols + b]; });
    std::vector<float> permuted(cols * cols);
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) permuted[i * cols + j] = h[perm[i] * cols + perm[j]];
    }
    h.swap(permuted);
  }

  double diag_sum = 0;
  for (int64_t j = 0; j < cols; ++j) diag_sum += h[j * cols + j];
  const float damping = options.damp * static_cast<float>(diag_sum / static_cast<double>(cols));
  for (int64_t j = 0; j < cols; ++j) h[j * cols + j] += damping;
  if (Status s = InverseCholeskyUpper(h.data(), cols); !s.ok()) {
    return Status::Error(Prefix(name) + "Hessian after damping " + std::to_string(damping) + ": " + s.message() +
                         "; try a larger damp");
  }
  const float* hinv = h.data();  // upper triangular, permuted order

  const int64_t n_chunks = (rows + kRowChunk - 1) / kRowChunk;
  std::vector<double> chunk_losses(n_chunks, 0.0);
  pool.ParallelFor(n_chunks, [&](int64_t chunk) {
    const int64_t r0 = chunk * kRowChunk;
    const int64_t nr = std::min(kRowChunk, rows - r0);
    // wc: this chunk's W in permuted column order, with the lazy updates of finished blocks.
    std::vector<float> wc(nr * cols), row;
    for (int64_t r = 0; r < nr; ++r) {
      zeroed_row(r0 + r, row);
      for (int64_t k = 0; k < cols; ++k) wc[r * cols + k] = row[perm[k]];
    }
    const int64_t block = std::min(options.block, cols);
    std::vector<float> w1(nr * block), err1(nr * block);
    double losses = 0;
    for (int64_t i1 = 0; i1 < cols; i1 += block) {
      const int64_t i2 = std::min(i1 + block, cols), count = i2 - i1;
      for (int64_t r = 0; r < nr; ++r) {
        std::copy_n(wc.data() + r * cols + i1, count, w1.data() + r * count);
      }
      for (int64_t i = 0; i < count; ++i) {
        const int64_t k = i1 + i;  // position in quantization order
        const int64_t col = perm[k];
        const float d = hinv[k * cols + k];
        if (grouped && !static_groups && k % gs == 0) {
          // From W, not W1: the current block's in-block updates are not seen.
          const int64_t g = k / gs;
          for (int64_t r = 0; r < nr; ++r) {
            result.params[(r0 + r) * n_groups + g] =
                GptqGroupQuant(wc.data() + r * cols + k, std::min(gs, cols - k), options.bits, options.sym);
          }
        }
        const float* hrow = hinv + k * cols + i1;  // Hinv[k, i1:i2]
        for (int64_t r = 0; r < nr; ++r) {
          const GroupQuant gq = result.params[(r0 + r) * n_groups + (grouped ? col / gs : 0)];
          float* w1r = w1.data() + r * count;
          const float x = w1r[i];
          const int32_t code = QuantizeToCode(x, gq, maxq);
          const float q = DequantizeCode(code, gq);
          result.codes[(r0 + r) * cols + col] = static_cast<uint8_t>(code);
          result.dequantized[(r0 + r) * cols + col] = q;
          const float diff = x - q;
          const double scaled = static_cast<double>(diff) / static_cast<double>(d);
          losses += scaled * scaled;
          const float e = diff / d;
          err1[r * count + i] = e;
          for (int64_t j = i; j < count; ++j) w1r[j] -= e * hrow[j];
        }
      }
      if (i2 < cols) {
        // W[:, i2:] −= Err1 · Hinv[i1:i2, i2:]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(nr),
                    static_cast<blasint>(cols - i2), static_cast<blasint>(count), -1.0f, err1.data(),
                    static_cast<blasint>(count), hinv + i1 * cols + i2, static_cast<blasint>(cols), 1.0f,
                    wc.data() + i2, static_cast<blasint>(cols));
      }
    }
    chunk_losses[chunk] = losses;
  });
  double total = 0;
  for (double l : chunk_losses) total += l;
  result.layer_error = total / 2;
  return result;
}

}  // namespace gpt2q
