// Bnb4Matrix's checkpoint parts: Store and LoadBnb4 (the nf4/fp4 `load`).
#include <cstring>
#include <string>

#include "formats/bnb4.h"
#include "formats/stored_parts.h"

namespace gpt2q {

StoredMatrix Bnb4Matrix::Store() const {
  StoredMatrix stored;
  stored.params["block"] = static_cast<double>(options_.block);
  stored.params["double"] = options_.double_quant ? 1 : 0;
  const int64_t n_codes = static_cast<int64_t>(storage_.codes.size());
  stored.parts.push_back(MakePart("codes", "U8", {n_codes}, storage_.codes.data(), n_codes));
  if (options_.double_quant) {
    const int64_t n_nested = static_cast<int64_t>(storage_.nested_absmax.size());
    stored.parts.push_back(MakePart("qabsmax", "U8", {n_blocks_}, storage_.qabsmax.data(), n_blocks_));
    stored.parts.push_back(
        MakePart("nested_absmax", "F32", {n_nested}, storage_.nested_absmax.data(), n_nested));
    stored.parts.push_back(MakePart("offset", "F32", {1}, &storage_.offset, 1));
    if (!storage_.nested_map.empty()) {
      stored.parts.push_back(MakePart("nested_map", "F32", {256}, storage_.nested_map.data(), 256));
    }
  } else {
    stored.parts.push_back(MakePart("absmax", "F32", {n_blocks_}, storage_.absmax.data(), n_blocks_));
  }
  return stored;
}

Result<std::unique_ptr<WeightMatrix>> LoadBnb4(Bnb4Kind kind, const StoredParts& parts, int64_t rows,
                                               int64_t cols, const FormatParams& params) {
  const std::string_view name = kind == Bnb4Kind::kNf4 ? "nf4" : "fp4";
  Result<Bnb4Options> options = ParseBnb4Options(name, params);
  if (!options.ok()) return Status::Error(parts.where + ": " + options.message());
  if (params.find("block") == params.end() || params.find("double") == params.end()) {
    return parts.Mismatch(std::string(name) + " params", "block and double",
                          "'" + ParamsToText(params) + "'");
  }
  if (rows <= 0 || cols <= 0) return parts.Mismatch("shape", "positive dimensions", ShapeText({rows, cols}));
  const int64_t n = rows * cols;
  const int64_t n_blocks = (n + options->block - 1) / options->block;
  Bnb4Matrix::Storage storage;
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* codes, parts.Get("codes", "U8", {(n + 1) / 2}));
  storage.codes = CopyPart(*codes);
  if (options->double_quant) {
    GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"codes", "qabsmax", "nested_absmax", "offset", "nested_map"}));
    const int64_t n_nested = (n_blocks + kBnb4NestedBlock - 1) / kBnb4NestedBlock;
    GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* q, parts.Get("qabsmax", "U8", {n_blocks}));
    GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* nested, parts.Get("nested_absmax", "F32", {n_nested}));
    GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* offset, parts.Get("offset", "F32", {1}));
    storage.qabsmax.assign(q->data, q->data + n_blocks);
    storage.nested_absmax.resize(static_cast<size_t>(n_nested));
    std::memcpy(storage.nested_absmax.data(), nested->data, static_cast<size_t>(nested->nbytes));
    std::memcpy(&storage.offset, offset->data, sizeof(float));
    if (parts.parts.count("nested_map") != 0) {  // optional: a code other than DynamicMap8()
      GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* map, parts.Get("nested_map", "F32", {256}));
      storage.nested_map.resize(256);
      std::memcpy(storage.nested_map.data(), map->data, 256 * sizeof(float));
      if (std::memcmp(storage.nested_map.data(), DynamicMap8().data(), 256 * sizeof(float)) == 0) {
        storage.nested_map.clear();
      }
    }
  } else {
    GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"codes", "absmax"}));
    GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* absmax, parts.Get("absmax", "F32", {n_blocks}));
    storage.absmax.resize(static_cast<size_t>(n_blocks));
    std::memcpy(storage.absmax.data(), absmax->data, static_cast<size_t>(absmax->nbytes));
  }
  return std::unique_ptr<WeightMatrix>(
      std::make_unique<Bnb4Matrix>(kind, rows, cols, *options, std::move(storage)));
}

}  // namespace gpt2q
