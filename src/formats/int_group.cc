// int-group: the storage of GPTQ, AWQ and their round-to-nearest baseline.
//
// Formula, per row j of W [out, in] and group g of `group` consecutive input
// columns (group = −1: one group per row; the last group is shorter when
// `group` does not divide the row):
//   W'[j][k] = fp32(scale[j][g]) · (q[j][k] − zero[j][g]),  q ∈ [0, 2^bits − 1]
// `scale` is stored as fp16 (round to nearest even), `zero` as one byte
// (uint8; bits ≤ 8). Codes are decided by the method; this file's own
// quantizer (the `rtn` method) is GPTQ's min-max quantizer (minmax_quantizer.h)
// with codes chosen by the fp32 scale — as GPTQ's reference, which keeps fp32
// scales — and the scale rounded to fp16 only for storage. sym=1 fixes
// zero = 2^(bits−1) (GPTQ's symmetric grid).
//
// Layout (kernels/int_group_gemv.h has the full bit layout): rows in panels of
// 16, each row's codes packed into 32-bit words of 2-, 3-, 4- or 8-bit fields
// (3-bit: 32 codes in three words, the 31st and 32nd split as 2 + 1 bits so
// that every field unpacks with shifts), and word w of a panel's 16 rows
// stored together (64 bytes) so one vector load serves 16 rows; groups padded
// to whole words with the zero-point's code. Per (panel, group): 16 fp16
// scales and 16 uint8 zero-points. Options: bits (2/3/4/8, default 4), group
// (default 128, −1 = per row), sym (0/1, default 0).
#include "formats/int_group.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <vector>

#include "core/half.h"
#include "formats/int8_matrix.h"
#include "formats/stored_parts.h"

namespace gpt2q {
namespace {

constexpr std::string_view kName = "int-group";

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

bool IsInteger(double v) { return std::isfinite(v) && v == std::floor(v); }

// Returns the fp16 bits of a scale, or an error naming (row, group) when the
// scale is not finite or beyond fp16's range.
Result<uint16_t> ScaleToFp16(float scale, int64_t row, int64_t g) {
  const uint16_t h = FloatToFp16(scale);
  if (!std::isfinite(scale) || (h & 0x7c00) == 0x7c00) {
    return Status::Error(std::string(kName) + ": row " + std::to_string(row) + ", group " + std::to_string(g) +
                         ": scale " + Num(scale) + " does not fit fp16; expected a finite |scale| <= 65504");
  }
  return h;
}

}  // namespace

Result<IntGroupOptions> ParseIntGroupOptions(std::string_view where, const FormatParams& params) {
  IntGroupOptions o;
  const std::string prefix(where);
  for (const auto& [key, value] : params) {
    if (key == "bits") {
      if (value != 2 && value != 3 && value != 4 && value != 8) {
        return Status::Error(prefix + ": option bits=" + Num(value) + ": expected 2, 3, 4 or 8");
      }
      o.bits = static_cast<int>(value);
    } else if (key == "group") {
      if (!IsInteger(value) || (value != -1 && value < 1) || value > (1 << 30)) {
        return Status::Error(prefix + ": option group=" + Num(value) +
                             ": expected -1 (one group per row) or a whole number of columns >= 1");
      }
      o.group = static_cast<int64_t>(value);
    } else if (key == "sym") {
      if (value != 0 && value != 1) {
        return Status::Error(prefix + ": option sym=" + Num(value) + ": expected 0 or 1");
      }
      o.sym = value == 1;
    } else {
      return Status::Error(prefix + ": unknown option '" + key + "'; valid options: bits, group, sym");
    }
  }
  return o;
}

IntGroupMatrix::IntGroupMatrix(IntGroupOptions options, IntGroupPacked packed)
    : WeightMatrix(packed.rows, packed.cols), options_(options), packed_(std::move(packed)),
      isa_(BestIntGroupIsa()) {
  GPT2Q_CHECK(packed_.bits == options_.bits && packed_.group == options_.GroupFor(packed_.cols));
}

Result<std::unique_ptr<IntGroupMatrix>> IntGroupMatrix::FromGroupQuant(int64_t rows, int64_t cols,
                                                                       const IntGroupOptions& options,
                                                                       const GroupQuant* params,
                                                                       const int32_t* codes) {
  GPT2Q_RETURN_IF_ERROR(ParseIntGroupOptions(kName, {{"bits", static_cast<double>(options.bits)},
                                                     {"group", static_cast<double>(options.group)},
                                                     {"sym", options.sym ? 1.0 : 0.0}})
                            .status());
  if (rows <= 0 || cols <= 0) {
    return Status::Error(std::string(kName) + ": expected a non-empty matrix, got " + std::to_string(rows) +
                         "x" + std::to_string(cols));
  }
  IntGroupPacked packed;
  packed.Allocate(rows, cols, options.bits, options.GroupFor(cols));
  const int32_t maxq = MaxCode(options.bits);
  std::vector<uint8_t> q(static_cast<size_t>(packed.group_pad));
  for (int64_t j = 0; j < rows; ++j) {
    for (int64_t g = 0; g < packed.n_groups; ++g) {
      const GroupQuant& p = params[j * packed.n_groups + g];
      const std::string at = std::string(kName) + ": row " + std::to_string(j) + ", group " + std::to_string(g);
      GPT2Q_ASSIGN_OR_RETURN(packed.ScaleBits(j, g), ScaleToFp16(p.scale, j, g));
      if (p.zero < 0 || p.zero > maxq || (options.sym && p.zero != (maxq + 1) / 2)) {
        return Status::Error(at + ": zero-point " + std::to_string(p.zero) + "; expected " +
                             (options.sym ? std::to_string((maxq + 1) / 2) + " (sym=1)"
                                          : "an integer in [0, " + std::to_string(maxq) + "]"));
      }
      packed.Zero(j, g) = static_cast<uint8_t>(p.zero);
      const int64_t len = packed.GroupLength(g);
      for (int64_t i = 0; i < packed.GroupPadded(g); ++i) {
        const int32_t c = i < len ? codes[j * cols + g * packed.group + i] : p.zero;
        if (c < 0 || c > maxq) {
          return Status::Error(at + ": code " + std::to_string(c) + " at column " +
                               std::to_string(g * packed.group + i) + "; expected an integer in [0, " +
                               std::to_string(maxq) + "]");
        }
        q[i] = static_cast<uint8_t>(c);
      }
      packed.SetGroupCodes(j, g, q.data());
    }
  }
  return std::make_unique<IntGroupMatrix>(options, std::move(packed));
}

void IntGroupMatrix::Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  IntGroupMultiply(packed_, x, n, y, pool, isa_);
}

void IntGroupMatrix::DequantizeRow(int64_t row, float* out) const {
  GPT2Q_CHECK(row >= 0 && row < rows());
  uint8_t q[1 << 10];
  std::vector<uint8_t> big;
  uint8_t* codes = q;
  if (packed_.group_pad > static_cast<int64_t>(sizeof(q))) {
    big.resize(static_cast<size_t>(packed_.group_pad));
    codes = big.data();
  }
  for (int64_t g = 0; g < packed_.n_groups; ++g) {
    packed_.GroupCodes(row, g, codes);
    const GroupQuant p = Params(row, g);
    float* o = out + g * packed_.group;
    for (int64_t i = 0; i < packed_.GroupLength(g); ++i) o[i] = DequantizeCode(codes[i], p);
  }
}

int32_t IntGroupMatrix::Code(int64_t row, int64_t col) const {
  const int64_t g = col / packed_.group;
  return static_cast<int32_t>(packed_.Code(row, g, col - g * packed_.group));
}

GroupQuant IntGroupMatrix::Params(int64_t row, int64_t g) const {
  return GroupQuant{packed_.Scale(row, g), packed_.Zero(row, g)};
}

StoredMatrix IntGroupMatrix::Store() const {
  StoredMatrix stored;
  stored.params["bits"] = options_.bits;
  stored.params["group"] = static_cast<double>(options_.group);
  stored.params["sym"] = options_.sym ? 1 : 0;
  const int64_t n_panels = packed_.n_panels(), n_groups = packed_.n_groups;
  stored.parts.push_back(MakePart("codes", "U32", {n_panels, packed_.words, 16}, packed_.codes.as<uint32_t>(),
                                  n_panels * packed_.words * 16));
  std::vector<uint16_t> scales(static_cast<size_t>(rows() * n_groups));
  std::vector<uint8_t> zeros(scales.size());
  for (int64_t j = 0; j < rows(); ++j) {
    for (int64_t g = 0; g < n_groups; ++g) {
      scales[j * n_groups + g] = packed_.ScaleBits(j, g);
      zeros[j * n_groups + g] = packed_.Zero(j, g);
    }
  }
  stored.parts.push_back(MakePart("scales", "F16", {rows(), n_groups}, scales.data(), rows() * n_groups));
  stored.parts.push_back(MakePart("zeros", "U8", {rows(), n_groups}, zeros.data(), rows() * n_groups));
  return stored;
}

Result<std::unique_ptr<WeightMatrix>> QuantizeIntGroup(const float* w, int64_t rows, int64_t cols,
                                                       const FormatParams& params, ThreadPool* pool) {
  GPT2Q_ASSIGN_OR_RETURN(IntGroupOptions options, ParseIntGroupOptions(kName, params));
  if (rows <= 0 || cols <= 0) {
    return Status::Error(std::string(kName) + ": expected a non-empty matrix, got " + std::to_string(rows) +
                         "x" + std::to_string(cols));
  }
  GPT2Q_RETURN_IF_ERROR(CheckFinite(kName, w, rows, cols));
  IntGroupPacked packed;
  packed.Allocate(rows, cols, options.bits, options.GroupFor(cols));
  const int32_t maxq = MaxCode(options.bits);
  // One task per panel of 16 rows: tasks write disjoint words, scales and zero-points.
  const int64_t n_tasks = packed.n_panels();
  std::vector<Status> errors(static_cast<size_t>(n_tasks));
  auto task = [&](int64_t p) {
    std::vector<uint8_t> q(static_cast<size_t>(packed.group_pad));
    for (int64_t j = p * kIntGroupPanelRows; j < std::min(rows, (p + 1) * kIntGroupPanelRows); ++j) {
      for (int64_t g = 0; g < packed.n_groups; ++g) {
        const float* x = w + j * cols + g * packed.group;
        const int64_t len = packed.GroupLength(g);
        const GroupQuant gq = GptqGroupQuant(x, len, options.bits, options.sym);
        Result<uint16_t> h = ScaleToFp16(gq.scale, j, g);
        if (!h.ok()) {
          errors[p] = h.status();
          return;
        }
        packed.ScaleBits(j, g) = h.value();
        packed.Zero(j, g) = static_cast<uint8_t>(gq.zero);
        for (int64_t i = 0; i < len; ++i) q[i] = static_cast<uint8_t>(QuantizeToCode(x[i], gq, maxq));
        for (int64_t i = len; i < packed.GroupPadded(g); ++i) q[i] = static_cast<uint8_t>(gq.zero);
        packed.SetGroupCodes(j, g, q.data());
      }
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(n_tasks, task);
  } else {
    for (int64_t p = 0; p < n_tasks; ++p) task(p);
  }
  for (const Status& s : errors) GPT2Q_RETURN_IF_ERROR(s);
  return std::unique_ptr<WeightMatrix>(std::make_unique<IntGroupMatrix>(options, std::move(packed)));
}

Result<std::unique_ptr<WeightMatrix>> LoadIntGroup(const StoredParts& parts, int64_t rows, int64_t cols,
                                                   const FormatParams& params) {
  Result<IntGroupOptions> options = ParseIntGroupOptions(kName, params);
  if (!options.ok()) return Status::Error(parts.where + ": " + options.message());
  for (const char* key : {"bits", "group", "sym"}) {
    if (params.find(key) == params.end()) {
      return parts.Mismatch("int-group params", "bits, group and sym", "'" + ParamsToText(params) + "'");
    }
  }
  if (rows <= 0 || cols <= 0) return parts.Mismatch("shape", "positive dimensions", ShapeText({rows, cols}));
  GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"codes", "scales", "zeros"}));
  IntGroupPacked packed;
  packed.SetShape(rows, cols, options->bits, options->GroupFor(cols));
  const int64_t n_groups = packed.n_groups;
  // Every size is checked against the parts before anything is allocated.
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* codes,
                         parts.Get("codes", "U32", {packed.n_panels(), packed.words, 16}));
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* scales, parts.Get("scales", "F16", {rows, n_groups}));
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* zeros, parts.Get("zeros", "U8", {rows, n_groups}));
  packed.Allocate(rows, cols, options->bits, options->GroupFor(cols));
  std::memcpy(packed.codes.data(), codes->data, static_cast<size_t>(codes->nbytes));
  const int32_t maxq = MaxCode(options->bits);
  for (int64_t j = 0; j < rows; ++j) {
    for (int64_t g = 0; g < n_groups; ++g) {
      uint16_t h;
      std::memcpy(&h, scales->data + 2 * (j * n_groups + g), 2);
      const std::string at = " at row " + std::to_string(j) + ", group " + std::to_string(g);
      if ((h & 0x7c00) == 0x7c00) {
        return parts.Mismatch("part 'scales' value" + at, "a finite fp16", "inf or NaN");
      }
      const int32_t z = zeros->data[j * n_groups + g];
      if (z > maxq || (options->sym && z != (maxq + 1) / 2)) {
        return parts.Mismatch("part 'zeros' value" + at,
                              options->sym ? std::to_string((maxq + 1) / 2) + " (sym=1)"
                                           : "at most " + std::to_string(maxq) + " (bits=" +
                                                 std::to_string(options->bits) + ")",
                              std::to_string(z));
      }
      packed.ScaleBits(j, g) = h;
      packed.Zero(j, g) = static_cast<uint8_t>(z);
    }
  }
  return std::unique_ptr<WeightMatrix>(std::make_unique<IntGroupMatrix>(*options, std::move(packed)));
}

const FormatTraits kIntGroupFormat = {
    kName,
    "GPTQ/AWQ storage: 2/3/4/8-bit codes, fp16 scale + uint8 zero-point per (row, group); "
    "options bits (4), group (128, -1 = per row), sym (0)",
    128,
    64 + 2 + 1,  // 4-bit, group 128: codes, fp16 scale, uint8 zero-point
    {"bits", "group", "sym"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeIntGroup(w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeIntGroup(w, rows, cols, params, nullptr);
    },
    LoadIntGroup,
    [](const WeightMatrix& m) {
      return static_cast<double>(static_cast<const IntGroupMatrix&>(m).options().bits);
    },
    "q4_bench"};

}  // namespace gpt2q
