// MappedFile: a whole file mapped read-only into memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace gpt2q {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file gives size() == 0 and data() == nullptr.
  // Errors name the path and the system's reason (errno text).
  static Result<std::shared_ptr<MappedFile>> Open(const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Returns an owner of the view [data, data + bytes) of `file`'s mapping that
  // keeps the mapping alive and, when its last copy goes (an fp32 weight
  // replaced by its quantized form), hands the pages wholly inside the view
  // back to the kernel: they leave the RSS, and touching them again would
  // re-read the file.
  static std::shared_ptr<const void> RegionOwner(std::shared_ptr<const MappedFile> file, const void* data,
                                                 size_t bytes);

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace gpt2q
