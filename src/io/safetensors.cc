// Safetensors: validation of untrusted headers, zero-copy tensor views, writer.
#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

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

// Reads a non-negative integer that fits in int64 from a JSON value.
bool ReadCount(const nlohmann::json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = i;
    return true;
  }
  return false;
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
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  nlohmann::json header =
      nlohmann::json::parse(header_begin, header_begin + header_len, nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded()) {
    return Status::Error(path + ": safetensors header is not valid JSON");
  }
  if (!header.is_object()) {
    return Status::Error(path + ": safetensors header must be a JSON object, got " +
                         std::string(header.type_name()));
  }

  auto result = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  SafetensorsFile& st = *result;
  st.path_ = path;
  st.owner_ = std::move(owner);
  const uint8_t* data_begin = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end) per tensor
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) {
        return Status::Error(path + ": __metadata__ must be an object of strings, got " +
                             std::string(entry.type_name()));
      }
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          return Status::Error(path + ": __metadata__ key '" + m.key() +
                               "': expected a string, got " + std::string(m.value().type_name()));
        }
        st.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    if (!entry.is_object()) {
      return Status::Error(where + ": expected an object, got " + std::string(entry.type_name()));
    }
    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end() || !dtype_it->is_string()) {
      return Status::Error(where + ": missing or non-string 'dtype'");
    }
    std::optional<Dtype> dtype = ParseDtype(dtype_it->get<std::string>());
    if (!dtype) {
      return Status::Error(where + ": unknown dtype '" + dtype_it->get<std::string>() +
                           "' (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U64, "
                           "U32, U16, U8, BOOL)");
    }
    auto shape_it = entry.find("shape");
    if (shape_it == entry.end() || !shape_it->is_array()) {
      return Status::Error(where + ": missing or non-array 'shape'");
    }
    TensorView view;
    view.name = name;
    view.dtype = *dtype;
    uint64_t numel = 1;
    bool overflow = false;
    for (const nlohmann::json& d : *shape_it) {
      int64_t dim = 0;
      if (!ReadCount(d, &dim)) {
        return Status::Error(where + ": shape entries must be non-negative integers, got " +
                             d.dump());
      }
      view.shape.push_back(dim);
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel)) overflow = true;
    }
    uint64_t expected_bytes = 0;
    if (overflow ||
        __builtin_mul_overflow(numel, static_cast<uint64_t>(DtypeSize(*dtype)), &expected_bytes)) {
      return Status::Error(where + ": shape " + ShapeString(view.shape) +
                           " has more elements than fit in 64 bits");
    }
    auto off_it = entry.find("data_offsets");
    int64_t begin = 0, end = 0;
    if (off_it == entry.end() || !off_it->is_array() || off_it->size() != 2 ||
        !ReadCount((*off_it)[0], &begin) || !ReadCount((*off_it)[1], &end)) {
      return Status::Error(where + ": 'data_offsets' must be [begin, end] with non-negative "
                           "integers");
    }
    if (begin > end) {
      return Status::Error(where + ": data_offsets begin " + std::to_string(begin) +
                           " is after end " + std::to_string(end));
    }
    if (static_cast<uint64_t>(end) > data_size) {
      return Status::Error(where + ": data_offsets [" + std::to_string(begin) + ", " +
                           std::to_string(end) + "] out of range: the data section has " +
                           std::to_string(data_size) + " bytes");
    }
    uint64_t nbytes = static_cast<uint64_t>(end - begin);
    if (nbytes != expected_bytes) {
      return Status::Error(where + ": size mismatch: shape " + ShapeString(view.shape) + " " +
                           DtypeName(*dtype) + " needs " + std::to_string(expected_bytes) +
                           " bytes, data_offsets give " + std::to_string(nbytes));
    }
    view.data = data_begin + begin;
    view.nbytes = static_cast<int64_t>(nbytes);
    st.tensors_.push_back(std::move(view));
    ranges.emplace_back(begin, end);
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
  for (size_t i : order) sorted.push_back(std::move(st.tensors_[i]));
  st.tensors_ = std::move(sorted);
  for (size_t i = 0; i < st.tensors_.size(); ++i) st.index_[st.tensors_[i].name] = i;
  return result;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
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
