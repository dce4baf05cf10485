// StoredParts: a quantized matrix's parts as read back from a checkpoint, with
// the checked accessors every format's `load` uses (dtype, shape, byte count).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/status.h"
#include "formats/weight_matrix.h"

namespace gpt2q {

// A non-owning view of one part's bytes (e.g. inside a mapped safetensors file).
struct StoredPartView {
  std::string dtype;  // safetensors spelling
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;
};

// The parts of one matrix, by suffix, and where they came from (for messages).
struct StoredParts {
  std::string where;  // "FILE: tensor 'NAME'"
  std::map<std::string, StoredPartView> parts;

  // Returns the part `suffix` after checking that it exists, has `dtype`,
  // shape `shape` and numel · dtype size bytes; the error names where, the
  // part and expected vs actual.
  Result<const StoredPartView*> Get(const std::string& suffix, const std::string& dtype,
                                    const std::vector<int64_t>& shape) const;
  // Returns an error naming the first part whose suffix is not in `allowed`.
  Status CheckOnly(std::initializer_list<const char*> allowed) const;
  // Returns an error naming where: `what` expected `expected`, got `actual`.
  Status Mismatch(const std::string& what, const std::string& expected,
                  const std::string& actual) const;
};

// Returns a part holding a copy of `count` values of T.
template <typename T>
StoredPart MakePart(std::string suffix, std::string dtype, std::vector<int64_t> shape,
                    const T* values, int64_t count) {
  StoredPart p{std::move(suffix), std::move(dtype), std::move(shape), {}};
  const auto* bytes = reinterpret_cast<const uint8_t*>(values);
  p.bytes.assign(bytes, bytes + count * static_cast<int64_t>(sizeof(T)));
  return p;
}

// Returns an aligned copy of the view's bytes.
AlignedBuffer CopyPart(const StoredPartView& part);

// Returns "[a, b]".
std::string ShapeText(const std::vector<int64_t>& shape);

// Returns params as "key=value,..." (values printed to round-trip exactly).
std::string ParamsToText(const std::map<std::string, double>& params);
// Parses ParamsToText's output ("" = no params); errors name `where`.
Result<std::map<std::string, double>> ParamsFromText(const std::string& where,
                                                     const std::string& text);

}  // namespace gpt2q
