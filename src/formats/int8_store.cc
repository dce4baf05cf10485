// Int8Matrix's checkpoint parts: Store (codes, scales, zero-points) and
// Restore / LoadInt8 (the integer formats' `load`).
#include <cstring>
#include <string>
#include <vector>

#include "formats/int8_matrix.h"
#include "formats/stored_parts.h"

namespace gpt2q {

StoredMatrix Int8Matrix::Store() const {
  const int64_t rows = this->rows(), cols = this->cols(), n_groups = packed_.n_groups;
  StoredMatrix stored;
  stored.params["w8a8"] = w8a8_ ? 1 : 0;
  if (act_delta_ > 0.0f) stored.params["act_delta"] = act_delta_;
  if (delta_form_) stored.params["delta"] = 1;
  if (group_param_ > 0) {
    stored.params["group"] = static_cast<double>(packed_.group);
    stored.params["bits"] = bits_;
  }
  if (bits_ == 8) {
    std::vector<int8_t> codes(static_cast<size_t>(rows * cols));
    for (int64_t j = 0; j < rows; ++j) {
      for (int64_t k = 0; k < cols; ++k) codes[j * cols + k] = static_cast<int8_t>(Code(j, k));
    }
    stored.parts.push_back(MakePart("codes", "I8", {rows, cols}, codes.data(), rows * cols));
  } else {
    const int64_t row_bytes = (cols + 1) / 2;
    std::vector<uint8_t> codes(static_cast<size_t>(rows * row_bytes), 0);
    for (int64_t j = 0; j < rows; ++j) {
      for (int64_t k = 0; k < cols; ++k) {
        const uint8_t u = static_cast<uint8_t>(Code(j, k) + 8);
        codes[j * row_bytes + k / 2] |= k % 2 == 0 ? static_cast<uint8_t>(u << 4) : u;
      }
    }
    stored.parts.push_back(MakePart("codes", "U8", {rows, row_bytes}, codes.data(), rows * row_bytes));
  }
  stored.parts.push_back(MakePart("scales", "F32", {rows, n_groups}, s_.data(), rows * n_groups));
  if (dequant_ == Int8Dequant::kDivide) {
    stored.parts.push_back(MakePart("zero_points", "F32", {rows}, z_.data(), rows));
  }
  return stored;
}

Status Int8Matrix::Restore(const StoredParts& parts) {
  const int64_t rows = this->rows(), cols = this->cols(), n_groups = packed_.n_groups;
  const bool has_z = dequant_ == Int8Dequant::kDivide;
  if (has_z) {
    GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"codes", "scales", "zero_points"}));
  } else {
    GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"codes", "scales"}));
  }
  const int64_t row_bytes = bits_ == 8 ? cols : (cols + 1) / 2;
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* codes,
                         parts.Get("codes", bits_ == 8 ? "I8" : "U8", {rows, row_bytes}));
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* scales, parts.Get("scales", "F32", {rows, n_groups}));
  std::memcpy(s_.data(), scales->data, static_cast<size_t>(scales->nbytes));
  if (has_z) {
    GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* zs, parts.Get("zero_points", "F32", {rows}));
    std::memcpy(z_.data(), zs->data, static_cast<size_t>(zs->nbytes));
  }
  const int32_t zero_code = bits_ == 8 ? 128 : 8;
  for (int64_t j = 0; j < rows; ++j) {
    const uint8_t* row = codes->data + j * row_bytes;
    for (int64_t k = 0; k < cols; ++k) {
      int q;
      if (bits_ == 8) {
        q = static_cast<int8_t>(row[k]);
      } else {
        q = ((k % 2 == 0 ? row[k / 2] >> 4 : row[k / 2]) & 0x0f) - 8;
      }
      packed_.SetCode(j, k, static_cast<uint8_t>(q + zero_code));
    }
    for (int64_t g = 0; g < n_groups; ++g) packed_.Step(j, g) = StepOf(s_[j * n_groups + g]);
    SetOffset(j);
  }
  return OkStatus();
}

Result<std::unique_ptr<WeightMatrix>> LoadInt8(std::string_view format, Int8Dequant dequant,
                                               bool grouped, const StoredParts& parts, int64_t rows,
                                               int64_t cols, const FormatParams& params) {
  auto where = [&parts](const Status& s) { return Status::Error(parts.where + ": " + s.message()); };
  Int8Spec spec;
  spec.format = std::string(format);
  spec.dequant = dequant;
  const bool row_format = format == "int8-row";  // the one format with a static activation step
  const std::vector<std::string_view> keys =
      grouped      ? std::vector<std::string_view>{"w8a8", "group", "bits"}
      : row_format ? std::vector<std::string_view>{"w8a8", "act_delta", "delta"}
                   : std::vector<std::string_view>{"w8a8"};
  if (Status s = CheckParamKeys(format, params, keys); !s.ok()) return where(s);
  if (grouped) {
    Result<int64_t> group = IntParam(format, params, "group", -1, 8, 1 << 20);
    if (!group.ok()) return where(group.status());
    Result<int64_t> bits = IntParam(format, params, "bits", -1, 4, 8);
    if (!bits.ok()) return where(bits.status());
    if (*group % 8 != 0 || (*bits != 4 && *bits != 8)) {
      return parts.Mismatch(std::string(format) + " params", "group a multiple of 8 and bits 4 or 8",
                            "group=" + std::to_string(*group) + ", bits=" + std::to_string(*bits));
    }
    spec.group = *group;
    spec.bits = static_cast<int>(*bits);
  }
  Result<int64_t> w8a8 = IntParam(format, params, "w8a8", 0, 0, 1);
  if (!w8a8.ok()) return where(w8a8.status());
  spec.w8a8 = *w8a8 != 0;
  if (row_format) {
    Result<float> delta = ActDeltaParam(format, params, spec.w8a8);
    if (!delta.ok()) return where(delta.status());
    spec.act_delta = *delta;
    Result<int64_t> delta_form = IntParam(format, params, "delta", 0, 0, 1);
    if (!delta_form.ok()) return where(delta_form.status());
    spec.delta_form = *delta_form != 0;
    if (spec.delta_form) spec.dequant = Int8Dequant::kMultiply;  // the scales part holds Δ
  }
  if (rows <= 0 || cols <= 0) return parts.Mismatch("shape", "positive dimensions", ShapeText({rows, cols}));
  auto m = std::make_unique<Int8Matrix>(spec, rows, cols);
  GPT2Q_RETURN_IF_ERROR(m->Restore(parts));
  return std::unique_ptr<WeightMatrix>(std::move(m));
}

}  // namespace gpt2q
