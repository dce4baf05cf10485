// The safetensors header: a streaming, bounded parse of its JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "io/safetensors.h"

namespace gpt2q {

// What a header holds: its tensors in the order they appear (views into the
// data section) with their [begin, end) byte ranges, and `__metadata__`.
struct SafetensorsHeader {
  std::vector<TensorView> tensors;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end) in the data section
  std::map<std::string, std::string> metadata;
};

// Limits on what a header may hold; each is far above what a real checkpoint
// file needs (GPT-2 XL has under 600 tensors, the largest single files of
// public models a few thousand) and bounds the memory a hostile header can
// make the parser hold (about 300 bytes per tensor plus the decoded strings).
inline constexpr int64_t kMaxHeaderTensors = 100000;
inline constexpr int64_t kMaxHeaderMetadataEntries = 100000;
// Tensor shapes have at most this many dimensions (PyTorch models rarely pass 5).
inline constexpr int64_t kMaxTensorRank = 8;
// Tensor names, metadata keys and dtypes: at most this many bytes.
inline constexpr size_t kMaxHeaderNameBytes = 4096;
// A metadata value: at most this many bytes (room for a model card or a config).
inline constexpr size_t kMaxHeaderMetadataValueBytes = 16u << 20;

// Parses `header` (the JSON after the 8-byte length of `path`) in one pass
// without building a JSON tree: a top-level object whose members are
// `__metadata__` (an object of strings) or tensors ({"dtype": ..., "shape":
// [...], "data_offsets": [begin, end]}, nothing else). Rejects, as soon as it
// is seen, anything else: invalid JSON, a value of the wrong type, a key
// repeated inside an entry or in `__metadata__`, an unknown dtype, a shape that
// is not non-negative integers or has more than kMaxTensorRank dimensions or
// more elements than fit in 64 bits, offsets that are not [begin <= end]
// within the `data_size` bytes of the data section or that disagree with
// the shape, and any limit above. Memory: the decoded strings plus a few
// hundred bytes per tensor; nothing sized by a number read from the header.
// Views point at `data_begin` + begin. Errors name `path`, the tensor or key,
// and expected vs actual; syntax errors give the byte offset in the header.
// Does not check duplicate tensor names or overlaps (see SafetensorsFile).
Result<SafetensorsHeader> ParseSafetensorsHeader(const std::string& path, std::string_view header,
                                                 const uint8_t* data_begin, uint64_t data_size);

}  // namespace gpt2q
