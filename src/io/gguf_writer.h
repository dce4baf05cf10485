// GgufWriter: builds a GGUF v3 file (little-endian, see io/gguf.h for the
// layout) from metadata pairs and tensors, in the order they are added.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/gguf.h"

namespace gpt2q {

class GgufWriter {
 public:
  // The alignment of the data section and of every tensor (GGUF's default;
  // general.alignment is not written).
  static constexpr uint64_t kAlignment = 32;

  void AddString(const std::string& key, const std::string& value);
  void AddU32(const std::string& key, uint32_t value);
  void AddF32(const std::string& key, float value);
  void AddBool(const std::string& key, bool value);
  void AddStrings(const std::string& key, const std::vector<std::string>& values);
  void AddI32s(const std::string& key, const std::vector<int32_t>& values);

  // Adds a tensor of ggml type `type` with ggml shape `ne` (ne[0] = values
  // per row) whose `nbytes` bytes are at `data`; the bytes are read by Write,
  // so they must stay valid until then.
  void AddTensor(const std::string& name, std::vector<int64_t> ne, uint32_t type, const void* data,
                 int64_t nbytes);

  // Writes the file to `path` (created or truncated): header, metadata,
  // tensor infos, zero padding to kAlignment, then each tensor's bytes padded
  // to kAlignment. Errors name the path, or the tensor whose byte count does
  // not match its shape and type.
  Status Write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    uint32_t type;
    const void* data;
    int64_t nbytes;
  };
  void Key(const std::string& key, GgufValueType type);
  template <typename T>
  void Put(T v) {
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    header_.insert(header_.end(), b, b + sizeof(T));
  }
  void PutString(const std::string& s);

  std::vector<uint8_t> header_;  // the metadata pairs, serialised as added
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace gpt2q
