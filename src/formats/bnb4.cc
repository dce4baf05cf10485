// Shared code of the bitsandbytes 4-bit formats: decision trees, the 8-bit
// dynamic code for double quantization, Bnb4Matrix and its quantizer.
// Keep a·b + c as two roundings, as bitsandbytes' separate kernels do.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif

#include "formats/bnb4.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/scratch_buffer.h"
#include "kernels/blas.h"
#include "kernels/q4_bnb4.h"

namespace gpt2q {

const std::array<float, 16>& Bnb4Codebook(Bnb4Kind kind) {
  static const std::array<float, 16> kNf4 = {
      -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
      -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
      0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
      0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
  // FP4 e2m1 with bias 3, values divided by 12 (the format's absmax): code
  // s·8 + {0: 0, 1: 0.0625, 2: 8, 3: 12, 4: 4, 5: 6, 6: 2, 7: 3}/12.
  static const std::array<float, 16> kFp4 = {
      0.0f, 0.005208333333f, 0.66666667f, 1.0f, 0.33333333f, 0.5f, 0.16666667f, 0.25f,
      -0.0f, -0.005208333333f, -0.66666667f, -1.0f, -0.33333333f, -0.5f, -0.16666667f, -0.25f};
  return kind == Bnb4Kind::kNf4 ? kNf4 : kFp4;
}

uint8_t QuantizeNf4Value(float x) {
  // bitsandbytes' tree: thresholds at the midpoints of neighbouring codes.
  if (x > 0.03979014977812767f) {
    if (x > 0.3893125355243683f) {
      if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 15 : 14;
      return x > 0.5016634166240692f ? 13 : 12;
    }
    if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 11 : 10;
    return x > 0.1202552504837513f ? 9 : 8;
  }
  if (x > -0.33967943489551544f) {
    if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 7 : 6;
    return x > -0.23460740596055984f ? 5 : 4;
  }
  if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 3 : 2;
  return x > -0.8480964004993439f ? 1 : 0;
}

uint8_t QuantizeFp4Value(float x) {
  const uint8_t sign = x < 0 ? 8 : 0;
  x = std::fabs(x);
  if (x > 0.29166667f) {
    if (x > 0.583333f) return (x > 0.8333333f ? 3 : 2) + sign;
    return (x > 0.4166667f ? 5 : 4) + sign;
  }
  if (x > 0.0859375f) return (x > 0.20833333f ? 7 : 6) + sign;
  return (x > 0.00260417f ? 1 : 0) + sign;
}

const std::array<float, 256>& DynamicMap8() {
  static const std::array<float, 256> kMap = [] {
    // signed=True, max_exponent_bits=7, total_bits=8: for exponent i = 0..6,
    // 2^i + 1 boundaries linspace(0.1, 1) (fp32, torch's two-sided formula),
    // their 2^i midpoints times 10^(i−6), both signs; plus 0 and 1; sorted.
    std::vector<float> data;
    for (int i = 0; i < 7; ++i) {
      const int steps = (1 << i) + 1;
      const float start = 0.1f, end = 1.0f;
      const float step = (end - start) / static_cast<float>(steps - 1);
      std::vector<float> bounds(steps);
      for (int k = 0; k < steps; ++k) {
        bounds[k] = k < steps / 2 ? start + step * static_cast<float>(k)
                                  : end - step * static_cast<float>(steps - k - 1);
      }
      const float scale = static_cast<float>(std::pow(10.0, i - 6));
      for (int k = 0; k + 1 < steps; ++k) {
        const float mean = (bounds[k] + bounds[k + 1]) / 2.0f;
        data.push_back(scale * mean);
        data.push_back(-(scale * mean));
      }
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    GPT2Q_CHECK(data.size() == 256);
    std::sort(data.begin(), data.end());
    std::array<float, 256> out;
    std::copy(data.begin(), data.end(), out.begin());
    return out;
  }();
  return kMap;
}

uint8_t QuantizeDynamic8(float x) {
  const std::array<float, 256>& code = DynamicMap8();
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[pivot];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper = code[upper_pivot];
  if (lower_pivot == 0) lower = code[lower_pivot];
  if (x > val) {
    const float midpoint = (upper + val) * 0.5f;
    return static_cast<uint8_t>(x > midpoint ? upper_pivot : pivot);
  }
  const float midpoint = (lower + val) * 0.5f;
  return static_cast<uint8_t>(x < midpoint ? lower_pivot : pivot);
}

Result<Bnb4Options> ParseBnb4Options(std::string_view format, const FormatParams& params) {
  Bnb4Options options;
  for (const auto& [key, value] : params) {
    if (key == "block") {
      const int64_t b = static_cast<int64_t>(value);
      if (static_cast<double>(b) != value || b < 16 || b > 4096 || (b & (b - 1)) != 0) {
        return Status::Error(std::string(format) + ": option block=" + std::to_string(value) +
                             ": expected a power of two from 16 to 4096");
      }
      options.block = b;
    } else if (key == "double") {
      if (value != 0.0 && value != 1.0) {
        return Status::Error(std::string(format) + ": option double=" + std::to_string(value) +
                             ": expected 0 or 1");
      }
      options.double_quant = value == 1.0;
    } else {
      return Status::Error(std::string(format) + ": unknown option '" + key +
                           "'; valid options: block, double");
    }
  }
  return options;
}

Bnb4Matrix::Bnb4Matrix(Bnb4Kind kind, int64_t rows, int64_t cols, Bnb4Options options,
                       Storage storage)
    : WeightMatrix(rows, cols), kind_(kind), options_(options), storage_(std::move(storage)) {
  n_blocks_ = (rows * cols + options_.block - 1) / options_.block;
  GPT2Q_CHECK(static_cast<int64_t>(storage_.codes.size()) == (rows * cols + 1) / 2);
  if (options_.double_quant) {
    GPT2Q_CHECK(static_cast<int64_t>(storage_.qabsmax.size()) == n_blocks_);
    GPT2Q_CHECK(static_cast<int64_t>(storage_.nested_absmax.size()) ==
                (n_blocks_ + kBnb4NestedBlock - 1) / kBnb4NestedBlock);
    GPT2Q_CHECK(storage_.nested_map.empty() || storage_.nested_map.size() == 256);
  } else {
    GPT2Q_CHECK(static_cast<int64_t>(storage_.absmax.size()) == n_blocks_);
  }
}

std::string Bnb4Matrix::format() const { return kind_ == Bnb4Kind::kNf4 ? "nf4" : "fp4"; }

float Bnb4Matrix::BlockAbsmax(int64_t b) const {
  float a;
  BlockAbsmaxes(b, 1, &a);
  return a;
}

void Bnb4Matrix::BlockAbsmaxes(int64_t first, int64_t count, float* out) const {
  if (!options_.double_quant) {
    std::copy_n(storage_.absmax.data() + first, count, out);
    return;
  }
  const float* map = storage_.nested_map.empty() ? DynamicMap8().data() : storage_.nested_map.data();
  for (int64_t b = first; b < first + count; ++b) {
    float a = map[storage_.qabsmax[b]] * storage_.nested_absmax[b / kBnb4NestedBlock];
    a += storage_.offset;
    out[b - first] = a;
  }
}

int64_t Bnb4Matrix::StoredBytes() const {
  int64_t bytes = static_cast<int64_t>(storage_.codes.size()) + 16 * 4;  // codes + quant_map
  if (options_.double_quant) {
    bytes += n_blocks_ + 4 * static_cast<int64_t>(storage_.nested_absmax.size()) + 4 + 256 * 4;
  } else {
    bytes += 4 * n_blocks_;
  }
  return bytes;
}

void Bnb4Matrix::DequantizeRow(int64_t row, float* out) const {
  GPT2Q_CHECK(row >= 0 && row < rows());
  DequantizeRows(row, 1, out);
}

void Bnb4Matrix::DequantizeRows(int64_t r0, int64_t count, float* out) const {
  const float* lut = Bnb4Codebook(kind_).data();
  const uint8_t* codes = storage_.codes.data();
  if (RowsAligned()) {
    const int64_t per_row = cols() / options_.block;
    thread_local ScratchBuffer scratch;  // one row's block absmax, tracked
    float* absmax = scratch.Get<float>(per_row);
    for (int64_t r = r0; r < r0 + count; ++r) {
      BlockAbsmaxes(r * per_row, per_row, absmax);
      Bnb4DequantizeRow(codes + r * cols() / 2, absmax, cols(), options_.block, lut,
                        out + (r - r0) * cols());
    }
    return;
  }
  for (int64_t r = r0; r < r0 + count; ++r) {
    for (int64_t c = 0; c < cols(); ++c) {
      const int64_t k = r * cols() + c;
      const int code = (k & 1) ? codes[k >> 1] & 0xF : codes[k >> 1] >> 4;
      out[(r - r0) * cols() + c] = lut[code] * BlockAbsmax(k / options_.block);
    }
  }
}

void Bnb4Matrix::Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  const int64_t out = rows(), in = cols();
  const int64_t chunk = OutputChunk(n, out);
  const int64_t n_chunks = (out + chunk - 1) / chunk;
  const float* lut = Bnb4Codebook(kind_).data();
  if (n <= 8) {
    // Decode: stream the packed codes once, all n tokens per row. Scratch is
    // per thread and tracked: the permuted activations on the calling thread
    // (the tasks read them through `xp`), a chunk's absmax or a row in each task.
    thread_local ScratchBuffer permuted;
    float* xp = nullptr;
    if (RowsAligned()) {
      xp = permuted.Get<float>(n * in);
      Bnb4PermuteActivations(x, n, in, options_.block, xp);
    }
    pool.ParallelFor(n_chunks, [&](int64_t c) {
      const int64_t r0 = c * chunk, r1 = std::min(out, r0 + chunk);
      if (RowsAligned()) {
        // The chunk's rows hold consecutive blocks: their absmax in one pass.
        const int64_t per_row = in / options_.block;
        // (With double quantization `absmax` is empty: no offset into it.)
        const float* absmax;
        if (options_.double_quant) {
          thread_local ScratchBuffer dequantized;
          float* a = dequantized.Get<float>((r1 - r0) * per_row);
          BlockAbsmaxes(r0 * per_row, (r1 - r0) * per_row, a);
          absmax = a;
        } else {
          absmax = storage_.absmax.data() + r0 * per_row;
        }
        for (int64_t r = r0; r < r1; ++r) {
          Bnb4RowDot(storage_.codes.data() + r * in / 2, absmax + (r - r0) * per_row, in, options_.block, lut,
                     xp, n, in, y + r, out);
        }
      } else {
        thread_local ScratchBuffer row_scratch;
        float* row = row_scratch.Get<float>(in);
        for (int64_t r = r0; r < r1; ++r) {
          DequantizeRows(r, 1, row);
          for (int64_t t = 0; t < n; ++t) {
            float acc = 0.0f;
            for (int64_t i = 0; i < in; ++i) acc += row[i] * x[t * in + i];
            y[t * out + r] = acc;
          }
        }
      }
    });
    return;
  }
  // Prefill: dequantize a tile of rows into fp32 scratch, one SGEMM per tile.
  pool.ParallelFor(n_chunks, [&](int64_t c) {
    const int64_t r0 = c * chunk, width = std::min(chunk, out - r0);
    thread_local ScratchBuffer scratch;  // tracked, kept for later calls
    float* tile = scratch.Get<float>(width * in);
    DequantizeRows(r0, width, tile);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, width, in, 1.0f, x, in, tile, in, 0.0f,
                y + r0, out);
  });
}

namespace {

Status CheckFinite(std::string_view format, const float* w, int64_t rows, int64_t cols) {
  for (int64_t k = 0; k < rows * cols; ++k) {
    if (!std::isfinite(w[k])) {
      return Status::Error(std::string(format) + ": weight value at row " +
                           std::to_string(k / cols) + ", col " + std::to_string(k % cols) +
                           " is " + (std::isnan(w[k]) ? "NaN" : "Inf") +
                           "; expected finite values");
    }
  }
  return OkStatus();
}

// Quantizes blocks [b0, b1) of the flattened weight; fast selects the AVX2 path.
void QuantizeBlocks(Bnb4Kind kind, const float* w, int64_t total, int64_t block, int64_t b0,
                    int64_t b1, bool fast, float* absmax, uint8_t* codes) {
  const bool nf4 = kind == Bnb4Kind::kNf4;
  float padded[4096];
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t start = b * block;
    const int64_t len = std::min(block, total - start);
    float amax = 0.0f;
    for (int64_t i = 0; i < len; ++i) amax = std::fmax(amax, std::fabs(w[start + i]));
    absmax[b] = amax;
    const float inv = 1.0f / amax;  // inf for an all-zero block: codes of NaN, as bitsandbytes
    const float* src = w + start;
    int64_t even_len = len;
    if (len & 1) {  // the flattened weight has an odd size: pad with a zero, as bitsandbytes' loads do
      std::memcpy(padded, src, len * sizeof(float));
      padded[len] = 0.0f;
      src = padded;
      even_len = len + 1;
    }
    uint8_t* out = codes + start / 2;
    if (fast) {
      Bnb4QuantizeBlock(src, even_len, inv, nf4, out);
    } else {
      for (int64_t i = 0; i < even_len; i += 2) {
        const uint8_t hi = nf4 ? QuantizeNf4Value(src[i] * inv) : QuantizeFp4Value(src[i] * inv);
        const uint8_t lo =
            nf4 ? QuantizeNf4Value(src[i + 1] * inv) : QuantizeFp4Value(src[i + 1] * inv);
        out[i / 2] = static_cast<uint8_t>((hi << 4) | lo);
      }
    }
  }
}

}  // namespace

Result<std::unique_ptr<WeightMatrix>> QuantizeBnb4(Bnb4Kind kind, const float* w, int64_t rows,
                                                   int64_t cols, const FormatParams& params,
                                                   ThreadPool* pool) {
  const std::string_view name = kind == Bnb4Kind::kNf4 ? "nf4" : "fp4";
  GPT2Q_ASSIGN_OR_RETURN(Bnb4Options options, ParseBnb4Options(name, params));
  if (rows <= 0 || cols <= 0) {
    return Status::Error(std::string(name) + ": expected a non-empty matrix, got " +
                         std::to_string(rows) + "x" + std::to_string(cols));
  }
  GPT2Q_RETURN_IF_ERROR(CheckFinite(name, w, rows, cols));
  const int64_t total = rows * cols;
  const int64_t n_blocks = (total + options.block - 1) / options.block;
  Bnb4Matrix::Storage storage;
  storage.codes = AlignedBuffer(static_cast<size_t>((total + 1) / 2));
  std::vector<float> absmax(n_blocks);
  if (pool != nullptr) {
    constexpr int64_t kBlocksPerTask = 256;
    const int64_t n_tasks = (n_blocks + kBlocksPerTask - 1) / kBlocksPerTask;
    pool->ParallelFor(n_tasks, [&](int64_t t) {
      QuantizeBlocks(kind, w, total, options.block, t * kBlocksPerTask,
                     std::min(n_blocks, (t + 1) * kBlocksPerTask), true, absmax.data(),
                     storage.codes.data());
    });
  } else {
    QuantizeBlocks(kind, w, total, options.block, 0, n_blocks, false, absmax.data(),
                   storage.codes.data());
  }
  if (options.double_quant) {
    // bitsandbytes: offset = absmax.mean(); quantize_blockwise(absmax − offset, blocksize=256).
    double sum = 0.0;
    for (float a : absmax) sum += a;
    storage.offset = static_cast<float>(sum / static_cast<double>(n_blocks));
    const int64_t n_nested = (n_blocks + kBnb4NestedBlock - 1) / kBnb4NestedBlock;
    storage.qabsmax.resize(n_blocks);
    storage.nested_absmax.resize(n_nested);
    for (int64_t nb = 0; nb < n_nested; ++nb) {
      const int64_t b0 = nb * kBnb4NestedBlock, b1 = std::min(n_blocks, b0 + kBnb4NestedBlock);
      float amax = 0.0f;
      for (int64_t b = b0; b < b1; ++b) amax = std::fmax(amax, std::fabs(absmax[b] - storage.offset));
      storage.nested_absmax[nb] = amax;
      const float inv = 1.0f / amax;
      for (int64_t b = b0; b < b1; ++b) {
        storage.qabsmax[b] = QuantizeDynamic8((absmax[b] - storage.offset) * inv);
      }
    }
  } else {
    storage.absmax = std::move(absmax);
  }
  return std::unique_ptr<WeightMatrix>(
      std::make_unique<Bnb4Matrix>(kind, rows, cols, options, std::move(storage)));
}

}  // namespace gpt2q
