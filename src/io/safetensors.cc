// Safetensors: validation of untrusted files, zero-copy tensor views, writer.
#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "io/safetensors_header.h"

namespace gpt2q {
namespace {

struct DtypeInfo {
  Dtype dtype;
  const char* name;
  int64_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {Dtype::kF64, "F64", 8},  {Dtype::kF32, "F32", 4}, {Dtype::kF16, "F16", 2},
    {Dtype::kBF16, "BF16", 2}, {Dtype::kI64, "I64", 8}, {Dtype::kI32, "I32", 4},
    {Dtype::kI16, "I16", 2},  {Dtype::kI8, "I8", 1},   {Dtype::kU64, "U64", 8},
    {Dtype::kU32, "U32", 4},  {Dtype::kU16, "U16", 2}, {Dtype::kU8, "U8", 1},
    {Dtype::kBool, "BOOL", 1},
};

const DtypeInfo& Info(Dtype dtype) {
  for (const DtypeInfo& info : kDtypes) {
    if (info.dtype == dtype) return info;
  }
  return kDtypes[1];  // unreachable: every enumerator is in the table
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Returns the indices of `tensors` in the order of their names.
std::vector<size_t> SortedByName(const std::vector<TensorView>& tensors) {
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors[a].name < tensors[b].name; });
  return order;
}

}  // namespace

const char* DtypeName(Dtype dtype) { return Info(dtype).name; }
int64_t DtypeSize(Dtype dtype) { return Info(dtype).size; }

std::optional<Dtype> ParseDtype(const std::string& name) {
  for (const DtypeInfo& info : kDtypes) {
    if (name == info.name) return info.dtype;
  }
  return std::nullopt;
}

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  const uint8_t* data = file->data();
  size_t size = file->size();
  std::shared_ptr<const MappedFile> mapping = file;
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> st, FromBytes(path, data, size, std::move(file)));
  st->mapping_ = std::move(mapping);
  return st;
}

std::shared_ptr<const void> SafetensorsFile::TensorOwner(const TensorView& t) const {
  if (mapping_ == nullptr) return owner_;
  return MappedFile::RegionOwner(mapping_, t.data, t.nbytes);
}

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::FromBytes(
    const std::string& path, const uint8_t* bytes, size_t size, std::shared_ptr<const void> owner) {
  if (size < 8) {
    return Status::Error(path + ": truncated safetensors file: expected at least 8 bytes "
                         "(header length), got " + std::to_string(size));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > size - 8) {
    return Status::Error(path + ": safetensors header length " + std::to_string(header_len) +
                         " runs past the end of the file (" + std::to_string(size - 8) +
                         " bytes after the length)");
  }
  if (header_len > kMaxHeaderBytes) {
    return Status::Error(path + ": safetensors header length " + std::to_string(header_len) +
                         " exceeds the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  }
  const uint8_t* data_begin = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  GPT2Q_ASSIGN_OR_RETURN(
      SafetensorsHeader header,
      ParseSafetensorsHeader(path,
                             std::string_view(reinterpret_cast<const char*>(bytes + 8), header_len),
                             data_begin, data_size));

  auto result = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  SafetensorsFile& st = *result;
  st.path_ = path;
  st.owner_ = std::move(owner);
  st.metadata_ = std::move(header.metadata);
  st.tensors_ = std::move(header.tensors);
  const std::vector<std::pair<uint64_t, uint64_t>>& ranges = header.ranges;

  // A name may appear once: a second entry would silently replace the first.
  std::vector<size_t> by_name = SortedByName(st.tensors_);
  for (size_t k = 1; k < by_name.size(); ++k) {
    const TensorView& a = st.tensors_[by_name[k - 1]];
    const TensorView& b = st.tensors_[by_name[k]];
    if (a.name == b.name) {
      return Status::Error(path + ": tensor '" + a.name + "' appears twice in the header (" +
                           DtypeName(a.dtype) + " " + ShapeString(a.shape) + " and " +
                           DtypeName(b.dtype) + " " + ShapeString(b.shape) + ")");
    }
  }

  // Order tensors by offset, then check that no two byte ranges overlap.
  std::vector<size_t> order(st.tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ranges[a] < ranges[b];
  });
  std::vector<TensorView> sorted;
  sorted.reserve(order.size());
  size_t reach = order.size();  // the non-empty tensor whose range ends furthest so far
  for (size_t k = 0; k < order.size(); ++k) {
    size_t i = order[k];
    bool empty = ranges[i].first == ranges[i].second;
    if (!empty && reach != order.size() && ranges[i].first < ranges[reach].second) {
      return Status::Error(path + ": tensors '" + st.tensors_[reach].name + "' [" +
                           std::to_string(ranges[reach].first) + ", " +
                           std::to_string(ranges[reach].second) + ") and '" +
                           st.tensors_[i].name + "' [" + std::to_string(ranges[i].first) +
                           ", " + std::to_string(ranges[i].second) + ") overlap");
    }
    if (!empty && (reach == order.size() || ranges[i].second > ranges[reach].second)) reach = i;
  }
  std::vector<size_t> position(order.size());  // parse index -> index in offset order
  for (size_t k = 0; k < order.size(); ++k) {
    sorted.push_back(std::move(st.tensors_[order[k]]));
    position[order[k]] = k;
  }
  st.tensors_ = std::move(sorted);
  for (size_t& i : by_name) i = position[i];
  st.by_name_ = std::move(by_name);
  return result;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [&](size_t i, const std::string& n) { return tensors_[i].name < n; });
  return it != by_name_.end() && tensors_[*it].name == name ? &tensors_[*it] : nullptr;
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const std::string where = path + ": tensor '" + t.name + "'";
    if (t.name == "__metadata__" || !names.insert(t.name).second) {
      return Status::Error(where + ": duplicate or reserved tensor name");
    }
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(numel, d, &numel)) {
        return Status::Error(where + ": invalid shape " + ShapeString(t.shape));
      }
    }
    int64_t expected = 0;
    if (__builtin_mul_overflow(numel, DtypeSize(t.dtype), &expected) || expected != t.nbytes) {
      return Status::Error(where + ": shape " + ShapeString(t.shape) + " " +
                           DtypeName(t.dtype) + " needs " + std::to_string(expected) +
                           " bytes, got " + std::to_string(t.nbytes));
    }
    header[t.name] = {{"dtype", DtypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + static_cast<uint64_t>(t.nbytes)}}};
    offset += static_cast<uint64_t>(t.nbytes);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  // Written beside `path` and renamed over it, so that a mapping of the old
  // file (tensors being saved from it) stays valid while this one is written.
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status::Error(tmp + ": cannot create: " + std::strerror(errno));
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 &&
            std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const TensorToWrite& t : tensors) {
    if (!ok) break;
    if (t.nbytes > 0) {
      ok = std::fwrite(t.data, 1, static_cast<size_t>(t.nbytes), f) ==
           static_cast<size_t>(t.nbytes);
    }
  }
  int err = ok ? 0 : errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    return Status::Error(path + ": write failed: " + std::strerror(err));
  }
  return OkStatus();
}

}  // namespace gpt2q
