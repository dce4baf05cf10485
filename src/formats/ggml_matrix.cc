// GgmlMatrix: rows of ggml blocks, multiplied as ggml does (activations to
// 8-bit blocks once per row, integer dot products per block), plus the
// format-table rows of q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/scratch_buffer.h"
#include "formats/ggml_formats.h"
#include "formats/ggml_quants.h"
#include "kernels/blas.h"
#include "kernels/ggml_dot.h"

namespace gpt2q {
namespace {

template <typename Block, void (*Quantize)(const float*, Block*, int64_t)>
void QuantizeAny(const float* x, void* y, int64_t k) {
  Quantize(x, static_cast<Block*>(y), k);
}
template <typename Block, void (*Dequantize)(const Block*, float*, int64_t)>
void DequantizeAny(const void* x, float* y, int64_t k) {
  Dequantize(static_cast<const Block*>(x), y, k);
}

const GgmlTypeInfo kInfos[] = {
    {GgmlType::kQ8_0, "q8_0", 32, sizeof(BlockQ8_0), QuantizeAny<BlockQ8_0, QuantizeRowQ8_0>,
     DequantizeAny<BlockQ8_0, DequantizeRowQ8_0>},
    {GgmlType::kQ4_0, "q4_0", 32, sizeof(BlockQ4_0), QuantizeAny<BlockQ4_0, QuantizeRowQ4_0>,
     DequantizeAny<BlockQ4_0, DequantizeRowQ4_0>},
    {GgmlType::kQ4_1, "q4_1", 32, sizeof(BlockQ4_1), QuantizeAny<BlockQ4_1, QuantizeRowQ4_1>,
     DequantizeAny<BlockQ4_1, DequantizeRowQ4_1>},
    {GgmlType::kQ5_0, "q5_0", 32, sizeof(BlockQ5_0), QuantizeAny<BlockQ5_0, QuantizeRowQ5_0>,
     DequantizeAny<BlockQ5_0, DequantizeRowQ5_0>},
    {GgmlType::kQ5_1, "q5_1", 32, sizeof(BlockQ5_1), QuantizeAny<BlockQ5_1, QuantizeRowQ5_1>,
     DequantizeAny<BlockQ5_1, DequantizeRowQ5_1>},
    {GgmlType::kQ4_K, "q4_k", 256, sizeof(BlockQ4_K), QuantizeAny<BlockQ4_K, QuantizeRowQ4_K>,
     DequantizeAny<BlockQ4_K, DequantizeRowQ4_K>},
    {GgmlType::kQ6_K, "q6_k", 256, sizeof(BlockQ6_K), QuantizeAny<BlockQ6_K, QuantizeRowQ6_K>,
     DequantizeAny<BlockQ6_K, DequantizeRowQ6_K>},
};

// Tiles of the prefill product: kRowTile weight rows stay in L1/L2 while
// kTokenTile activation rows (a multiple of the kernel's 4 tokens) stream past.
constexpr int64_t kRowTile = 32;
constexpr int64_t kTokenTile = 64;

}  // namespace

const GgmlTypeInfo& GetGgmlTypeInfo(GgmlType type) { return kInfos[static_cast<int>(type)]; }

GgmlMatrix::GgmlMatrix(GgmlType type, int64_t rows, int64_t cols, AlignedBuffer data)
    : WeightMatrix(rows, cols), info_(GetGgmlTypeInfo(type)), owned_(std::move(data)) {
  GPT2Q_CHECK(cols % info_.block_values == 0);
  row_bytes_ = cols / info_.block_values * info_.block_bytes;
  GPT2Q_CHECK(static_cast<int64_t>(owned_.size()) == rows * row_bytes_);
  data_ = owned_.data();
}

GgmlMatrix::GgmlMatrix(GgmlType type, int64_t rows, int64_t cols, const uint8_t* data,
                       std::shared_ptr<const void> owner)
    : WeightMatrix(rows, cols), info_(GetGgmlTypeInfo(type)), data_(data), owner_(std::move(owner)) {
  GPT2Q_CHECK(cols % info_.block_values == 0 && data != nullptr);
  row_bytes_ = cols / info_.block_values * info_.block_bytes;
}

std::string GgmlMatrix::format() const { return std::string(info_.name); }

void GgmlMatrix::DequantizeRow(int64_t row, float* out) const {
  GPT2Q_CHECK(row >= 0 && row < rows());
  info_.dequantize_row(row_data(row), out, cols());
}

int64_t GgmlMatrix::act_row_bytes() const {
  return GgmlUsesQ8K(info_.type) ? cols() / kQKK * static_cast<int64_t>(sizeof(ActQ8K))
                                 : cols() / kQK32 * static_cast<int64_t>(sizeof(ActQ8));
}

void GgmlMatrix::QuantizeActivations(const float* x, int64_t n, uint8_t* act,
                                     ThreadPool* pool) const {
  const int64_t stride = act_row_bytes();
  auto one = [&](int64_t t) {
    if (GgmlUsesQ8K(info_.type)) {
      QuantizeActQ8K(x + t * cols(), reinterpret_cast<ActQ8K*>(act + t * stride), cols());
    } else {
      QuantizeActQ8(x + t * cols(), reinterpret_cast<ActQ8*>(act + t * stride), cols());
    }
  };
  if (pool == nullptr || n < 16) {
    for (int64_t t = 0; t < n; ++t) one(t);
    return;
  }
  pool->ParallelFor((n + 15) / 16, [&](int64_t c) {
    for (int64_t t = c * 16; t < std::min(n, c * 16 + 16); ++t) one(t);
  });
}

void GgmlMatrix::Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  const int64_t out = rows(), stride = act_row_bytes();
  const int64_t nb = cols() / info_.block_values;
  // Reused across calls on this thread (tracked): prefill activations are
  // megabytes. (The tasks below run on other threads: they use `act_data`, never `act`.)
  thread_local ScratchBuffer act;
  uint8_t* act_data = act.Get<uint8_t>(n * stride);
  QuantizeActivations(x, n, act_data, &pool);
  if (n <= 8) {
    const int64_t chunk = OutputChunk(n, out);
    pool.ParallelFor((out + chunk - 1) / chunk, [&](int64_t c) {
      const int64_t r0 = c * chunk, r1 = std::min(out, r0 + chunk);
      GgmlTile(info_.type, row_data(r0), row_bytes_, nb, r1 - r0, act_data, stride, n, y + r0, out);
    });
    return;
  }
  const int64_t row_tiles = (out + kRowTile - 1) / kRowTile;
  const int64_t token_tiles = (n + kTokenTile - 1) / kTokenTile;
  pool.ParallelFor(row_tiles * token_tiles, [&](int64_t task) {
    const int64_t r0 = task % row_tiles * kRowTile, t0 = task / row_tiles * kTokenTile;
    const int64_t r1 = std::min(out, r0 + kRowTile), t1 = std::min(n, t0 + kTokenTile);
    GgmlTile(info_.type, row_data(r0), row_bytes_, nb, r1 - r0, act_data + t0 * stride, stride,
             t1 - t0, y + t0 * out + r0, out);
  });
}

void GgmlMatrix::MultiplyReference(const float* x, int64_t n, float* y) const {
  const int64_t stride = act_row_bytes();
  std::vector<uint8_t> act(static_cast<size_t>(n * stride));
  QuantizeActivations(x, n, act.data(), nullptr);
  const GgmlVecDot dot = GgmlVecDotRef(info_.type);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows(); ++r) {
      y[t * rows() + r] = dot(row_data(r), act.data() + t * stride, cols() / info_.block_values);
    }
  }
}

Result<std::unique_ptr<WeightMatrix>> QuantizeGgml(GgmlType type, const float* w, int64_t rows,
                                                   int64_t cols, const FormatParams& params,
                                                   ThreadPool* pool) {
  const GgmlTypeInfo& info = GetGgmlTypeInfo(type);
  const std::string name(info.name);
  if (!params.empty()) {
    return Status::Error(name + ": unknown option '" + params.begin()->first + "'; " + name +
                         " has no options");
  }
  if (rows <= 0 || cols <= 0) {
    return Status::Error(name + ": expected a non-empty matrix, got " + std::to_string(rows) +
                         "x" + std::to_string(cols));
  }
  if (cols % info.block_values != 0) {
    return Status::Error(name + ": row length (in_features) " + std::to_string(cols) +
                         " is not a multiple of the block size " +
                         std::to_string(info.block_values));
  }
  for (int64_t k = 0; k < rows * cols; ++k) {
    if (!std::isfinite(w[k])) {
      return Status::Error(name + ": weight value at row " + std::to_string(k / cols) + ", col " +
                           std::to_string(k % cols) + " is " + (std::isnan(w[k]) ? "NaN" : "Inf") +
                           "; expected finite values");
    }
  }
  const int64_t row_bytes = cols / info.block_values * info.block_bytes;
  AlignedBuffer data(static_cast<size_t>(rows * row_bytes));
  auto quantize_rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) info.quantize_row(w + r * cols, data.data() + r * row_bytes, cols);
  };
  if (pool != nullptr) {
    constexpr int64_t kRowsPerTask = 16;
    pool->ParallelFor((rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t c) {
      quantize_rows(c * kRowsPerTask, std::min(rows, (c + 1) * kRowsPerTask));
    });
  } else {
    quantize_rows(0, rows);
  }
  return std::unique_ptr<WeightMatrix>(std::make_unique<GgmlMatrix>(type, rows, cols, std::move(data)));
}

StoredMatrix GgmlMatrix::Store() const {
  StoredMatrix stored;
  stored.parts.push_back(MakePart("blocks", "U8", {rows(), row_bytes_}, data_, rows() * row_bytes_));
  return stored;
}

Result<std::unique_ptr<WeightMatrix>> LoadGgml(GgmlType type, const StoredParts& parts, int64_t rows,
                                               int64_t cols, const FormatParams& params) {
  const GgmlTypeInfo& info = GetGgmlTypeInfo(type);
  if (!params.empty()) {
    return parts.Mismatch(std::string(info.name) + " params", "none", "'" + ParamsToText(params) + "'");
  }
  if (rows <= 0 || cols <= 0 || cols % info.block_values != 0) {
    return parts.Mismatch(std::string(info.name) + " shape",
                          "rows of whole " + std::to_string(info.block_values) + "-value blocks",
                          ShapeText({rows, cols}));
  }
  GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"blocks"}));
  const int64_t row_bytes = cols / info.block_values * info.block_bytes;
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* blocks, parts.Get("blocks", "U8", {rows, row_bytes}));
  return std::unique_ptr<WeightMatrix>(std::make_unique<GgmlMatrix>(type, rows, cols, CopyPart(*blocks)));
}

#define GPT2Q_GGML_FORMAT(var, type, block, code_bits, description)                                       \
  const FormatTraits var = {                                                                   \
      GetGgmlTypeInfo(type).name, description, block,                                          \
      static_cast<int64_t>(GetGgmlTypeInfo(type).block_bytes), {},                             \
      [](const float* w, int64_t rows, int64_t cols, const FormatParams& params,               \
         ThreadPool& pool) { return QuantizeGgml(type, w, rows, cols, params, &pool); },       \
      [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {             \
        return QuantizeGgml(type, w, rows, cols, params, nullptr);                             \
      },                                                                                       \
      [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {   \
        return LoadGgml(type, parts, rows, cols, params);                                      \
      },                                                                                       \
      [](const WeightMatrix&) { return code_bits; }, "q4_bench"};

GPT2Q_GGML_FORMAT(kQ8_0Format, GgmlType::kQ8_0, 32, 8.0, "llama.cpp Q8_0: 32 int8 values + fp16 scale")
GPT2Q_GGML_FORMAT(kQ4_0Format, GgmlType::kQ4_0, 32, 4.0, "llama.cpp Q4_0: 32 4-bit values + fp16 scale")
GPT2Q_GGML_FORMAT(kQ4_1Format, GgmlType::kQ4_1, 32, 4.0,
                  "llama.cpp Q4_1: 32 4-bit values + fp16 scale and minimum")
GPT2Q_GGML_FORMAT(kQ5_0Format, GgmlType::kQ5_0, 32, 5.0, "llama.cpp Q5_0: 32 5-bit values + fp16 scale")
GPT2Q_GGML_FORMAT(kQ5_1Format, GgmlType::kQ5_1, 32, 5.0,
                  "llama.cpp Q5_1: 32 5-bit values + fp16 scale and minimum")
GPT2Q_GGML_FORMAT(kQ4_KFormat, GgmlType::kQ4_K, 256, 4.0,
                  "llama.cpp Q4_K: 256-value super-blocks, 4-bit values, 6-bit scales and mins")
GPT2Q_GGML_FORMAT(kQ6_KFormat, GgmlType::kQ6_K, 256, 6.0,
                  "llama.cpp Q6_K: 256-value super-blocks, 6-bit values, int8 scales")

#undef GPT2Q_GGML_FORMAT

}  // namespace gpt2q
