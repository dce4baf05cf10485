// GgufWriter: serialises metadata and tensor infos, then streams the tensors.
#include "io/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace gpt2q {

void GgufWriter::PutString(const std::string& s) {
  Put<uint64_t>(s.size());
  header_.insert(header_.end(), s.begin(), s.end());
}

void GgufWriter::Key(const std::string& key, GgufValueType type) {
  PutString(key);
  Put<uint32_t>(static_cast<uint32_t>(type));
  ++n_kv_;
}

void GgufWriter::AddString(const std::string& key, const std::string& value) {
  Key(key, GgufValueType::kString);
  PutString(value);
}

void GgufWriter::AddU32(const std::string& key, uint32_t value) {
  Key(key, GgufValueType::kU32);
  Put(value);
}

void GgufWriter::AddF32(const std::string& key, float value) {
  Key(key, GgufValueType::kF32);
  Put(value);
}

void GgufWriter::AddBool(const std::string& key, bool value) {
  Key(key, GgufValueType::kBool);
  Put<uint8_t>(value ? 1 : 0);
}

void GgufWriter::AddStrings(const std::string& key, const std::vector<std::string>& values) {
  Key(key, GgufValueType::kArray);
  Put<uint32_t>(static_cast<uint32_t>(GgufValueType::kString));
  Put<uint64_t>(values.size());
  for (const std::string& s : values) PutString(s);
}

void GgufWriter::AddI32s(const std::string& key, const std::vector<int32_t>& values) {
  Key(key, GgufValueType::kArray);
  Put<uint32_t>(static_cast<uint32_t>(GgufValueType::kI32));
  Put<uint64_t>(values.size());
  for (int32_t v : values) Put(v);
}

void GgufWriter::AddTensor(const std::string& name, std::vector<int64_t> ne, uint32_t type,
                           const void* data, int64_t nbytes) {
  tensors_.push_back({name, std::move(ne), type, data, nbytes});
}

Status GgufWriter::Write(const std::string& path) const {
  std::vector<uint8_t> out;
  auto put = [&out](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  };
  const uint32_t version = 3;
  const uint64_t n_tensors = tensors_.size();
  put("GGUF", 4);
  put(&version, 4);
  put(&n_tensors, 8);
  put(&n_kv_, 8);
  out.insert(out.end(), header_.begin(), header_.end());
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    std::optional<GgmlTypeSize> size = GgmlTypeSizeOf(t.type);
    int64_t numel = 1;
    for (int64_t d : t.ne) numel *= d;
    if (!size || t.ne.empty() || t.ne[0] % size->block_values != 0 ||
        numel / size->block_values * size->block_bytes != t.nbytes) {
      return Status::Error(path + ": tensor '" + t.name + "': " + std::to_string(t.nbytes) +
                           " bytes do not match ggml type " + std::to_string(t.type) + " and its shape");
    }
    const uint64_t name_len = t.name.size(), n_dims = t.ne.size();
    put(&name_len, 8);
    put(t.name.data(), t.name.size());
    const auto dims = static_cast<uint32_t>(n_dims);
    put(&dims, 4);
    for (int64_t d : t.ne) {
      const auto ne = static_cast<uint64_t>(d);
      put(&ne, 8);
    }
    put(&t.type, 4);
    put(&offset, 8);
    offset += (static_cast<uint64_t>(t.nbytes) + kAlignment - 1) / kAlignment * kAlignment;
  }
  out.resize((out.size() + kAlignment - 1) / kAlignment * kAlignment, 0);

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (f == nullptr) return Status::Error(path + ": cannot create: " + std::strerror(errno));
  auto write = [&](const void* p, size_t n) { return n == 0 || std::fwrite(p, 1, n, f.get()) == n; };
  bool ok = write(out.data(), out.size());
  static constexpr uint8_t kZeros[kAlignment] = {};
  for (const Tensor& t : tensors_) {
    if (!ok) break;
    ok = write(t.data, static_cast<size_t>(t.nbytes));
    const uint64_t pad = (kAlignment - static_cast<uint64_t>(t.nbytes) % kAlignment) % kAlignment;
    ok = ok && write(kZeros, pad);
  }
  const int close_result = std::fclose(f.release());
  if (!ok || close_result != 0) return Status::Error(path + ": write failed: " + std::strerror(errno));
  return OkStatus();
}

}  // namespace gpt2q
