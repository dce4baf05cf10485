// The format table: one row per storage format, in a fixed order. A format
// file exposes its row as `extern const FormatTraits kXxxFormat;` in its
// header; adding a format = one include + one line in Rows() below.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "formats/format.h"
#include "core/aligned_buffer.h"
#include "formats/bf16_matrix.h"
#include "formats/fp16_matrix.h"
#include "formats/fp32_matrix.h"
#include "formats/fp4.h"
#include "formats/ggml_formats.h"
#include "formats/int8_formats.h"
#include "formats/int_group.h"
#include "formats/nf4.h"
#include "formats/symquant.h"

namespace gpt2q {
namespace {

// fp32: the weight copied into an owned buffer, [out, in] (kOutIn).
Result<std::unique_ptr<WeightMatrix>> CopyFp32(const float* w, int64_t rows, int64_t cols,
                                               const FormatParams& params, ThreadPool* pool) {
  if (!params.empty()) {
    return Status::Error("fp32: unknown option '" + params.begin()->first + "'; fp32 has no options");
  }
  if (rows <= 0 || cols <= 0) return Status::Error("fp32: empty weight");
  const int64_t total = rows * cols;
  for (int64_t i = 0; i < total; ++i) {
    if (!std::isfinite(w[i])) {
      return Status::Error("fp32: weight [" + std::to_string(rows) + ", " + std::to_string(cols) +
                           "] element (" + std::to_string(i / cols) + ", " +
                           std::to_string(i % cols) + ") is not finite; expected a finite value");
    }
  }
  auto buffer = std::make_shared<std::vector<float>>(static_cast<size_t>(total));
  if (pool != nullptr) {
    std::memcpy(buffer->data(), w, static_cast<size_t>(total) * sizeof(float));
  } else {
    for (int64_t i = 0; i < total; ++i) (*buffer)[i] = w[i];
  }
  const float* data = buffer->data();
  return std::unique_ptr<WeightMatrix>(
      std::make_unique<Fp32Matrix>(data, rows, cols, Fp32Layout::kOutIn, std::move(buffer)));
}

// fp32 from its stored "values" (layout kept, see Fp32Matrix::Store).
Result<std::unique_ptr<WeightMatrix>> LoadFp32(const StoredParts& parts, int64_t rows, int64_t cols,
                                               const FormatParams& params) {
  GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"values"}));
  double in_out = 0;
  for (const auto& [key, value] : params) {
    if (key != "in_out" || (value != 0 && value != 1)) {
      return parts.Mismatch("fp32 param '" + key + "'", "in_out=0 or in_out=1",
                            key + "=" + std::to_string(value));
    }
    in_out = value;
  }
  std::vector<int64_t> shape = in_out != 0 ? std::vector<int64_t>{cols, rows}
                                           : std::vector<int64_t>{rows, cols};
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* values, parts.Get("values", "F32", shape));
  auto buffer = std::make_shared<AlignedBuffer>(CopyPart(*values));
  const float* data = buffer->as<float>();
  return std::unique_ptr<WeightMatrix>(std::make_unique<Fp32Matrix>(
      data, rows, cols, in_out != 0 ? Fp32Layout::kInOut : Fp32Layout::kOutIn, std::move(buffer)));
}

const FormatTraits kFp32Format = {
    "fp32", "IEEE fp32 weights, OpenBLAS SGEMM", 0, 0, {},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return CopyFp32(w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return CopyFp32(w, rows, cols, params, nullptr);
    },
    LoadFp32,
    [](const WeightMatrix&) { return 32.0; },
    ""};

std::vector<FormatTraits> Rows() {
  return {
      kFp32Format,
      kFp16Format,
      kBf16Format,
      kInt8TensorFormat,
      kInt8TensorAsymFormat,
      kInt8RowFormat,
      kInt8RowAsymFormat,
      kInt8SymquantFormat,
      kInt8GroupFormat,
      kLlmInt8Format,
      kIntGroupFormat,
      kNf4Format,
      kFp4Format,
      kQ8_0Format,
      kQ4_0Format,
      kQ4_1Format,
      kQ5_0Format,
      kQ5_1Format,
      kQ4_KFormat,
      kQ6_KFormat,
  };
}

}  // namespace

const std::vector<FormatTraits>& FormatTable() {
  // Built on first use (after every format's row is initialised), then constant.
  static const std::vector<FormatTraits> table = Rows();
  return table;
}

Result<const FormatTraits*> FindFormat(std::string_view name) {
  std::string valid;
  for (const FormatTraits& f : FormatTable()) {
    if (f.name == name) return &f;
    valid += (valid.empty() ? "" : ", ") + std::string(f.name);
  }
  return Status::Error("unknown format '" + std::string(name) + "'; valid formats: " + valid);
}

}  // namespace gpt2q
