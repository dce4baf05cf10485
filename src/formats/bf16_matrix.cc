// bf16: bfloat16 storage, round to nearest even from fp32 (as PyTorch's
// .to(torch.bfloat16)), and bf16 arithmetic: each Multiply rounds the
// activations to bf16 and takes vdpbf16ps-ordered dot products, natively on
// AVX512-BF16, emulated exactly on AVX2. Values whose rounding overflows are
// rejected like NaN/Inf. Layout: rows · cols uint16, row-major [out, in].
#include "formats/bf16_matrix.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "core/scratch_buffer.h"
#include "formats/stored_parts.h"
#include "kernels/bf16_dot.h"
#include "kernels/blas.h"

namespace gpt2q {
namespace {

// Tiles of the product: a task's rows (a multiple of the kernel's 4) stay in
// L1/L2 while its tokens' packed activations stream past.
constexpr int64_t kRowTile = 64;
constexpr int64_t kTokenTile = 32;

}  // namespace

Bf16Matrix::Bf16Matrix(AlignedBuffer values, int64_t rows, int64_t cols)
    : WeightMatrix(rows, cols), values_(std::move(values)) {
  GPT2Q_CHECK(static_cast<int64_t>(values_.size()) >= rows * cols * 2);
  data_ = values_.as<uint16_t>();
}

Bf16Matrix::Bf16Matrix(const uint16_t* values, int64_t rows, int64_t cols, std::shared_ptr<const void> owner)
    : WeightMatrix(rows, cols), data_(values), owner_(std::move(owner)) {
  GPT2Q_CHECK(values != nullptr);
}

void Bf16Matrix::DequantizeRow(int64_t row, float* out) const {
  GPT2Q_CHECK(row >= 0 && row < rows());
  const uint16_t* v = data() + row * cols();
  for (int64_t c = 0; c < cols(); ++c) out[c] = Bf16ToFloat(v[c]);
}

void Bf16Matrix::Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  const int64_t out = rows(), in = cols(), padded = Bf16PaddedCols(in);
  // Reused across calls on this thread (tracked); the tasks read `xb`.
  thread_local ScratchBuffer packed;
  uint16_t* xb = packed.Get<uint16_t>(n * padded);
  Bf16PackActivations(x, n, in, xb);
  const int64_t row_tile = n <= 8 ? OutputChunk(n, out) : kRowTile;
  const int64_t row_tiles = (out + row_tile - 1) / row_tile;
  const int64_t token_tiles = (n + kTokenTile - 1) / kTokenTile;
  pool.ParallelFor(row_tiles * token_tiles, [&](int64_t task) {
    const int64_t r0 = task % row_tiles * row_tile, t0 = task / row_tiles * kTokenTile;
    const int64_t r1 = std::min(out, r0 + row_tile), t1 = std::min(n, t0 + kTokenTile);
    Bf16Tile(data() + r0 * in, in, r1 - r0, xb + t0 * padded, t1 - t0, y + t0 * out + r0, out);
  });
}

StoredMatrix Bf16Matrix::Store() const {
  StoredMatrix stored;
  stored.parts.push_back(MakePart("values", "BF16", {rows(), cols()}, data(), rows() * cols()));
  return stored;
}

Result<std::unique_ptr<WeightMatrix>> QuantizeBf16(const float* w, int64_t rows, int64_t cols,
                                                   const FormatParams& params, ThreadPool* pool) {
  if (!params.empty()) {
    return Status::Error("bf16: unknown option '" + params.begin()->first + "'; bf16 has no options");
  }
  if (rows <= 0 || cols <= 0) return Status::Error("bf16: empty weight");
  const int64_t total = rows * cols;
  AlignedBuffer values(static_cast<size_t>(total) * 2);
  uint16_t* v = values.as<uint16_t>();
  // Round, and find the first element that is not finite before or after rounding.
  auto round = [&](int64_t i0, int64_t i1) {
    int64_t bad = -1;
    for (int64_t i = i0; i < i1; ++i) {
      v[i] = FloatToBf16(w[i]);
      if (bad < 0 && !std::isfinite(Bf16ToFloat(v[i]))) bad = i;
    }
    return bad;
  };
  int64_t bad = -1;
  if (pool != nullptr) {
    const int64_t chunk = 1 << 16, n_chunks = (total + chunk - 1) / chunk;
    std::vector<int64_t> first_bad(static_cast<size_t>(n_chunks));
    pool->ParallelFor(n_chunks, [&](int64_t c) { first_bad[c] = round(c * chunk, std::min(total, (c + 1) * chunk)); });
    for (int64_t b : first_bad) {
      if (b >= 0) {
        bad = b;
        break;
      }
    }
  } else {
    bad = round(0, total);
  }
  if (bad >= 0) {
    return Status::Error("bf16: weight [" + std::to_string(rows) + ", " + std::to_string(cols) + "] element (" +
                         std::to_string(bad / cols) + ", " + std::to_string(bad % cols) + ") is " +
                         std::to_string(w[bad]) + "; expected a finite value within bf16's range (|x| < 3.39e38)");
  }
  return std::unique_ptr<WeightMatrix>(std::make_unique<Bf16Matrix>(std::move(values), rows, cols));
}

namespace {

Result<std::unique_ptr<WeightMatrix>> LoadBf16(const StoredParts& parts, int64_t rows, int64_t cols,
                                               const FormatParams& params) {
  if (!params.empty()) return parts.Mismatch("bf16 params", "none", "'" + params.begin()->first + "'");
  GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"values"}));
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* values, parts.Get("values", "BF16", {rows, cols}));
  return std::unique_ptr<WeightMatrix>(std::make_unique<Bf16Matrix>(CopyPart(*values), rows, cols));
}

}  // namespace

const FormatTraits kBf16Format = {
    "bf16",
    "bfloat16 weights (round to nearest even) and bf16 dot products: activations rounded to bf16, "
    "fp32 accumulation (AVX512-BF16, else exact AVX2 emulation)",
    0, 0, {},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeBf16(w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeBf16(w, rows, cols, params, nullptr);
    },
    LoadBf16,
    [](const WeightMatrix&) { return 16.0; },
    "int8_bench"};

}  // namespace gpt2q
