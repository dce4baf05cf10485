// GGUF reading: a validated, zero-copy view of a GGUF v2/v3 file (llama.cpp's
// container) — its metadata key/value pairs and its tensors' bytes.
//
// Layout (little-endian; ggml's gguf.cpp): magic "GGUF", uint32 version,
// uint64 tensor count, uint64 key/value count; each pair is a string key
// (uint64 length + bytes), a uint32 value type and the value (scalars; strings;
// arrays: uint32 element type, uint64 count, the elements); each tensor info is
// a string name, uint32 n_dims (1..4), n_dims uint64 ne (ne[0] the contiguous
// dimension), uint32 ggml type and a uint64 offset into the data section. The
// data section starts at the end of the tensor infos rounded up to the
// alignment (general.alignment, default 32); every offset is a multiple of it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "io/mapped_file.h"

namespace gpt2q {

// GGUF metadata value types (gguf.h's enum gguf_type).
enum class GgufValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
// Returns "UINT32", "STRING", ... (gguf.cpp's spelling), "type N" for others.
std::string GgufValueTypeName(GgufValueType type);

// ggml tensor type ids as GGUF stores them (ggml.h's enum ggml_type).
inline constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ4_0 = 2, kGgmlQ4_1 = 3,
                          kGgmlQ5_0 = 6, kGgmlQ5_1 = 7, kGgmlQ8_0 = 8, kGgmlQ4_K = 12,
                          kGgmlQ6_K = 14, kGgmlBF16 = 30;

// Block geometry of a ggml tensor type: `block_values` values in `block_bytes`.
struct GgmlTypeSize {
  std::string_view name;  // ggml's spelling: "f32", "q4_0", "q4_K", ...
  int64_t block_values = 0;
  int64_t block_bytes = 0;
};
// Returns the geometry of ggml type `type`, or nullopt for an id ggml does not
// define (or that GGUF files cannot hold, such as the removed Q4_2).
std::optional<GgmlTypeSize> GgmlTypeSizeOf(uint32_t type);

// One metadata value: a view into the file.
struct GgufValue {
  GgufValueType type = GgufValueType::kU8;
  GgufValueType array_type = GgufValueType::kU8;  // element type of a kArray
  uint64_t count = 0;                              // elements of a kArray
  const uint8_t* data = nullptr;  // a scalar's bytes, or a numeric array's elements
  std::string_view string;        // kString
  std::vector<std::string_view> strings;  // kArray of kString
};

// One tensor: its name, ggml shape and type, and its bytes inside the file.
struct GgufTensor {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] = values per row
  uint32_t type = 0;        // ggml type id
  uint64_t offset = 0;      // from the start of the data section
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;

  int64_t numel() const;
};

class GgufFile {
 public:
  // Largest accepted values: more tensors, keys, or dimensions than any model has.
  static constexpr uint64_t kMaxTensors = 1 << 20;
  static constexpr uint64_t kMaxKeys = 1 << 20;
  static constexpr int kMaxDims = 4;       // GGML_MAX_DIMS
  static constexpr size_t kMaxNameBytes = 63;  // GGML_MAX_NAME - 1

  // Maps and validates `path`: magic, version (2 or 3), every count and string
  // length against the bytes left, value types, no key or tensor name twice,
  // general.alignment (a power of two), dimensions, known tensor types, rows
  // of whole blocks, offsets aligned, in range and not overlapping. Errors name
  // the file, the key or tensor, and expected vs actual.
  static Result<std::shared_ptr<GgufFile>> Open(const std::string& path);
  // Validates `bytes` (a whole GGUF file kept alive by `owner`, may be null);
  // `path` is only used in messages.
  static Result<std::shared_ptr<GgufFile>> FromBytes(const std::string& path, const uint8_t* bytes,
                                                     size_t size, std::shared_ptr<const void> owner);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Offset of the data section from the start of the file.
  uint64_t data_offset() const { return data_offset_; }
  // Returns the pairs in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  // Returns the value of `key`, or nullptr.
  const GgufValue* Find(const std::string& key) const;
  // Returns the tensors in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // Returns the tensor called `name`, or nullptr.
  const GgufTensor* FindTensor(const std::string& name) const;

  // Typed accessors: an error naming the file and the key when it is missing
  // (the *Or forms return `fallback` instead) or of another type. Integers of
  // any GGUF integer type are accepted when the value fits.
  Result<std::string> GetString(const std::string& key) const;
  Result<int64_t> GetInt(const std::string& key, int64_t lo, int64_t hi) const;
  Result<int64_t> GetIntOr(const std::string& key, int64_t lo, int64_t hi, int64_t fallback) const;
  Result<double> GetFloat(const std::string& key) const;  // F32 or F64
  Result<std::vector<std::string_view>> GetStrings(const std::string& key) const;
  // An integer array (any integer element type), e.g. tokenizer.ggml.token_type.
  Result<std::vector<int64_t>> GetInts(const std::string& key) const;

  // Keeps the bytes alive (the mapping or `owner`).
  std::shared_ptr<const void> owner() const { return owner_; }
  // Keeps `t`'s bytes alive like owner(); in a mapped file, also hands the
  // tensor's pages back to the kernel once the last copy goes.
  std::shared_ptr<const void> TensorOwner(const GgufTensor& t) const;

 private:
  friend class GgufParser;
  std::string path_;
  std::shared_ptr<const void> owner_;
  std::shared_ptr<const MappedFile> mapping_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace gpt2q
