// llm-int8: LLM.int8() as bitsandbytes does it.
//
// Weights, per output row j: SCB_j = max_k|W_jk|, CB = round(W · (127 / SCB_j))
// (CB = 0 where SCB_j = 0), dequantized CB·SCB_j/127. Per call: outlier
// columns O = {k : any |X_tk| ≥ threshold} (option threshold, default 6.0;
// 0 turns decomposition off) are zeroed in X, the rest is quantized per token
// (SCA_t = max_k|X_tk|, CA = round(127·X/SCA_t)), multiplied int8×int8→int32
// and rescaled by SCA_t·SCB_j/127²; the outlier columns are multiplied in fp32
// against the dequantized weight columns and added.
// Layout: the packed int8 panels of kernels/int8_gemm.h (u = CB + 128), SCB
// per row (fp32) and the kernel's step SCB/127 and offset 128 per row.
// StoredBytes counts all of them.
#include "formats/llm_int8.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/scratch_buffer.h"
#include "formats/int8_formats.h"
#include "kernels/blas.h"

namespace gpt2q {

void LlmInt8Matrix::Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  const int64_t rows = this->rows(), cols = this->cols();
  // Scratch for this call, tracked and freed on return: the outlier columns,
  // then the activations split into the int8 part and the outlier part, and
  // the dequantized outlier columns of W.
  ScratchBuffer flag_scratch, outlier_scratch, x_rest_scratch, x_out_scratch, w_out_scratch;
  int64_t* outliers = nullptr;
  int64_t n_out = 0;
  if (threshold_ > 0.0f) {
    char* is_outlier = flag_scratch.Get<char>(cols);
    std::memset(is_outlier, 0, static_cast<size_t>(cols));
    outliers = outlier_scratch.Get<int64_t>(cols);
    for (int64_t t = 0; t < n; ++t) {
      const float* xt = x + t * cols;
      for (int64_t k = 0; k < cols; ++k) is_outlier[k] |= std::fabs(xt[k]) >= threshold_;
    }
    for (int64_t k = 0; k < cols; ++k) {
      if (is_outlier[k]) outliers[n_out++] = k;
    }
  }
  if (n_out == 0) {
    Int8Multiply(x, n, y, packed(), pool, BestInt8Isa());
    return;
  }
  float* x_rest = x_rest_scratch.Get<float>(n * cols);
  std::memcpy(x_rest, x, static_cast<size_t>(n * cols) * sizeof(float));
  float* x_out = x_out_scratch.Get<float>(n * n_out);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < n_out; ++i) {
      x_out[t * n_out + i] = x_rest[t * cols + outliers[i]];
      x_rest[t * cols + outliers[i]] = 0.0f;
    }
  }
  Int8Multiply(x_rest, n, y, packed(), pool, BestInt8Isa());
  // Dequantized outlier columns [rows, n_out], then y += x_out · w_outᵀ in the
  // shape-only output chunks of blas.h.
  float* w_out = w_out_scratch.Get<float>(rows * n_out);
  for (int64_t j = 0; j < rows; ++j) {
    const float scb = Scale(j, 0);
    for (int64_t i = 0; i < n_out; ++i) {
      w_out[j * n_out + i] = static_cast<float>(Code(j, outliers[i])) * scb / 127.0f;
    }
  }
  const int64_t chunk = OutputChunk(n, rows);
  pool.ParallelFor((rows + chunk - 1) / chunk, [&](int64_t c) {
    const int64_t r0 = c * chunk, width = std::min(chunk, rows - r0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, width, n_out, 1.0f, x_out, n_out,
                w_out + r0 * n_out, n_out, 1.0f, y + r0, rows);
  });
}

namespace {

Result<std::unique_ptr<WeightMatrix>> QuantizeLlmInt8(const float* w, int64_t rows, int64_t cols,
                                                      const FormatParams& params,
                                                      ThreadPool* pool) {
  constexpr std::string_view kName = "llm-int8";
  GPT2Q_RETURN_IF_ERROR(CheckParamKeys(kName, params, {"threshold"}));
  float threshold = 6.0f;
  if (auto it = params.find("threshold"); it != params.end()) {
    if (!(it->second >= 0.0 && std::isfinite(it->second))) {
      return Status::Error("llm-int8: option threshold=" + std::to_string(it->second) +
                           "; expected a finite value >= 0");
    }
    threshold = static_cast<float>(it->second);
  }
  if (rows <= 0 || cols <= 0) return Status::Error("llm-int8: empty weight");
  GPT2Q_RETURN_IF_ERROR(CheckFinite(kName, w, rows, cols));
  Int8Spec spec;
  spec.format = std::string(kName);
  spec.op = Int8Op::kMul;
  spec.dequant = Int8Dequant::kScb;
  spec.lo = -127;
  spec.hi = 127;
  spec.w8a8 = true;
  spec.params = [](const float* v, int64_t count) {
    Int8SpanParams p;
    p.s = MaxAbs(v, count);  // SCB
    p.op_scale = p.s > 0.0f ? 127.0f / p.s : 0.0f;
    return p;
  };
  auto m = std::make_unique<LlmInt8Matrix>(spec, rows, cols, threshold);
  FillInt8(spec, w, m.get(), pool);
  return std::unique_ptr<WeightMatrix>(std::move(m));
}

// llm-int8 from its stored parts (CB codes, SCB scales) and threshold.
Result<std::unique_ptr<WeightMatrix>> LoadLlmInt8(const StoredParts& parts, int64_t rows,
                                                  int64_t cols, const FormatParams& params) {
  constexpr std::string_view kName = "llm-int8";
  if (Status s = CheckParamKeys(kName, params, {"threshold"}); !s.ok()) {
    return Status::Error(parts.where + ": " + s.message());
  }
  auto it = params.find("threshold");
  if (it == params.end() || !(it->second >= 0.0 && std::isfinite(it->second))) {
    return parts.Mismatch("llm-int8 param threshold", "a finite value >= 0",
                          it == params.end() ? "none" : std::to_string(it->second));
  }
  if (rows <= 0 || cols <= 0) return parts.Mismatch("shape", "positive dimensions", ShapeText({rows, cols}));
  Int8Spec spec;
  spec.format = std::string(kName);
  spec.dequant = Int8Dequant::kScb;
  spec.w8a8 = true;
  auto m = std::make_unique<LlmInt8Matrix>(spec, rows, cols, static_cast<float>(it->second));
  GPT2Q_RETURN_IF_ERROR(m->Restore(parts));
  return std::unique_ptr<WeightMatrix>(std::move(m));
}

}  // namespace

StoredMatrix LlmInt8Matrix::Store() const {
  StoredMatrix stored = Int8Matrix::Store();
  stored.params.erase("w8a8");  // always W8A8
  stored.params["threshold"] = threshold_;
  return stored;
}

const FormatTraits kLlmInt8Format = {
    "llm-int8",
    "bitsandbytes LLM.int8(): int8 rows (SCB = max|W_j|), int8 tokens, fp32 outlier "
    "columns (|x| >= threshold); option threshold (default 6, 0 = off)",
    -1, 0, {"threshold"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeLlmInt8(w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeLlmInt8(w, rows, cols, params, nullptr);
    },
    LoadLlmInt8,
    [](const WeightMatrix&) { return 8.0; },
    "int8_bench"};

}  // namespace gpt2q
