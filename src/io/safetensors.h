// Safetensors reading (validated, zero-copy over a mapped file) and writing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/mapped_file.h"

namespace gpt2q {

// Element types of the safetensors format.
enum class Dtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU64, kU32, kU16, kU8, kBool };

// Returns the safetensors spelling ("F32", "BF16", ...).
const char* DtypeName(Dtype dtype);
// Returns the size in bytes of one element.
int64_t DtypeSize(Dtype dtype);
// Returns the dtype spelled `name`, or nullopt if the name is not a known dtype.
std::optional<Dtype> ParseDtype(const std::string& name);

// A non-owning view of one tensor's bytes inside a SafetensorsFile.
struct TensorView {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;

  int64_t numel() const { return nbytes / DtypeSize(dtype); }
};

// A validated, memory-mapped safetensors file.
class SafetensorsFile {
 public:
  // Largest header accepted; anything bigger is rejected before allocation.
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  // Maps and validates `path`: header length, JSON (parsed as a stream with
  // bounded memory, see ParseSafetensorsHeader), dtypes, shapes, offsets in
  // range, sizes matching numel * dtype size, no overlaps, no name twice.
  // Errors name the file, the tensor and expected vs actual.
  static Result<std::shared_ptr<SafetensorsFile>> Open(const std::string& path);
  // Validates `bytes` (a whole safetensors file held elsewhere, kept alive by
  // `owner`); `path` is only used in messages.
  static Result<std::shared_ptr<SafetensorsFile>> FromBytes(const std::string& path,
                                                            const uint8_t* bytes, size_t size,
                                                            std::shared_ptr<const void> owner);

  const std::string& path() const { return path_; }
  // Returns the tensor called `name`, or nullptr if there is none.
  const TensorView* Find(const std::string& name) const;
  // Returns all tensors in the order of their data offsets.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // Returns the string map of the header's `__metadata__` (empty if absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Keeps the underlying bytes alive (the mapping), for views that outlive this object.
  std::shared_ptr<const void> owner() const { return owner_; }
  // Keeps `t`'s bytes alive like owner(); in a mapped file, also hands the
  // tensor's pages back to the kernel once the last copy goes
  // (MappedFile::RegionOwner), so a replaced weight leaves the RSS.
  std::shared_ptr<const void> TensorOwner(const TensorView& t) const;

 private:
  std::string path_;
  std::shared_ptr<const void> owner_;
  std::shared_ptr<const MappedFile> mapping_;  // set by Open, null for FromBytes
  std::vector<TensorView> tensors_;
  std::vector<size_t> by_name_;  // indices of tensors_ in the order of their names
  std::map<std::string, std::string> metadata_;
};

// One tensor to write: name, dtype, shape and its bytes (numel * dtype size).
struct TensorToWrite {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  int64_t nbytes = 0;
};

// Writes a safetensors file: the JSON header padded with spaces to a multiple
// of 8, then the tensors' bytes packed in the order given. The file is written
// as `path`.tmp and renamed, so tensors may come from a mapping of `path` itself.
// Fails if a tensor's nbytes does not equal numel * dtype size, a name
// repeats, or I/O fails.
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace gpt2q
