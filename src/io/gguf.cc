// GgufFile: a bounded parser of GGUF headers over a mapped file. Every count
// and length is checked against the bytes left before anything is allocated.
#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>

namespace gpt2q {
namespace {

// Sizes of the scalar value types; 0 for string and array.
int64_t ScalarSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8: case GgufValueType::kI8: case GgufValueType::kBool: return 1;
    case GgufValueType::kU16: case GgufValueType::kI16: return 2;
    case GgufValueType::kU32: case GgufValueType::kI32: case GgufValueType::kF32: return 4;
    case GgufValueType::kU64: case GgufValueType::kI64: case GgufValueType::kF64: return 8;
    default: return 0;
  }
}

bool IsKnownType(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::kF64); }

bool IsIntegerType(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8: case GgufValueType::kI8: case GgufValueType::kU16:
    case GgufValueType::kI16: case GgufValueType::kU32: case GgufValueType::kI32:
    case GgufValueType::kU64: case GgufValueType::kI64: return true;
    default: return false;
  }
}

// Reads integer element `i` of type `t` at `p` as int64; false if a uint64 does not fit.
bool ReadInteger(GgufValueType t, const uint8_t* p, int64_t* out) {
  auto load = [p](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (t) {
    case GgufValueType::kU8: *out = load(uint8_t{}); return true;
    case GgufValueType::kI8: *out = load(int8_t{}); return true;
    case GgufValueType::kU16: *out = load(uint16_t{}); return true;
    case GgufValueType::kI16: *out = load(int16_t{}); return true;
    case GgufValueType::kU32: *out = load(uint32_t{}); return true;
    case GgufValueType::kI32: *out = load(int32_t{}); return true;
    case GgufValueType::kI64: *out = load(int64_t{}); return true;
    case GgufValueType::kU64: {
      const uint64_t v = load(uint64_t{});
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      *out = static_cast<int64_t>(v);
      return true;
    }
    default: return false;
  }
}

// ggml's types, indexed by id; block_values 0 marks an id GGUF cannot hold.
constexpr GgmlTypeSize kTypeSizes[] = {
    {"f32", 1, 4},       {"f16", 1, 2},      {"q4_0", 32, 18},   {"q4_1", 32, 20},
    {"", 0, 0},          {"", 0, 0},         {"q5_0", 32, 22},   {"q5_1", 32, 24},
    {"q8_0", 32, 34},    {"q8_1", 32, 36},   {"q2_K", 256, 84},  {"q3_K", 256, 110},
    {"q4_K", 256, 144},  {"q5_K", 256, 176}, {"q6_K", 256, 210}, {"q8_K", 256, 292},
    {"iq2_xxs", 256, 66}, {"iq2_xs", 256, 74}, {"iq3_xxs", 256, 98}, {"iq1_s", 256, 50},
    {"iq4_nl", 32, 18},  {"iq3_s", 256, 110}, {"iq2_s", 256, 82}, {"iq4_xs", 256, 136},
    {"i8", 1, 1},        {"i16", 1, 2},      {"i32", 1, 4},      {"i64", 1, 8},
    {"f64", 1, 8},       {"iq1_m", 256, 56}, {"bf16", 1, 2},     {"", 0, 0},
    {"", 0, 0},          {"", 0, 0},         {"tq1_0", 256, 54}, {"tq2_0", 256, 66},
};

}  // namespace

std::string GgufValueTypeName(GgufValueType type) {
  static constexpr const char* kNames[] = {"UINT8", "INT8",   "UINT16", "INT16", "UINT32",
                                           "INT32", "FLOAT32", "BOOL",  "STRING", "ARRAY",
                                           "UINT64", "INT64", "FLOAT64"};
  const auto t = static_cast<uint32_t>(type);
  return IsKnownType(t) ? kNames[t] : "type " + std::to_string(t);
}

std::optional<GgmlTypeSize> GgmlTypeSizeOf(uint32_t type) {
  if (type >= std::size(kTypeSizes) || kTypeSizes[type].block_values == 0) return std::nullopt;
  return kTypeSizes[type];
}

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

// Reads the header of one file; every read is bounded by the bytes left.
class GgufParser {
 public:
  GgufParser(GgufFile& file, const uint8_t* bytes, size_t size) : f_(file), p_(bytes), size_(size) {}

  Status Parse() {
    const std::string& path = f_.path_;
    if (size_ < 4 || std::memcmp(p_, "GGUF", 4) != 0) {
      std::string got = size_ < 4 ? std::to_string(size_) + " bytes" : Quote(std::string_view(
                                                                            reinterpret_cast<const char*>(p_), 4));
      return Status::Error(path + ": not a GGUF file: expected the magic 'GGUF' at offset 0, got " + got);
    }
    pos_ = 4;
    uint32_t version = 0;
    uint64_t n_tensors = 0, n_kv = 0;
    GPT2Q_RETURN_IF_ERROR(Read(&version, "the version"));
    if (version != 2 && version != 3) {
      return Status::Error(path + ": GGUF version " + std::to_string(version) +
                           " is not supported: expected 2 or 3" +
                           (version > 0x00FFFFFF ? " (a big-endian file?)" : ""));
    }
    f_.version_ = version;
    GPT2Q_RETURN_IF_ERROR(Read(&n_tensors, "the tensor count"));
    GPT2Q_RETURN_IF_ERROR(Read(&n_kv, "the metadata count"));
    // A pair takes at least 13 bytes (key length, type, one byte of value), a
    // tensor info at least 32 (name length, n_dims, one ne, type, offset).
    if (n_kv > GgufFile::kMaxKeys || n_kv > Left() / 13) {
      return Status::Error(path + ": metadata count " + std::to_string(n_kv) +
                           " is larger than the file can hold (" + std::to_string(Left()) +
                           " bytes left after the header)");
    }
    f_.metadata_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) GPT2Q_RETURN_IF_ERROR(ParsePair(i));
    if (const GgufValue* a = f_.Find("general.alignment")) {
      uint32_t align = 0;
      if (a->type != GgufValueType::kU32) {
        return Status::Error(path + ": metadata key 'general.alignment': expected type UINT32, got " +
                             GgufValueTypeName(a->type));
      }
      std::memcpy(&align, a->data, 4);
      if (align == 0 || (align & (align - 1)) != 0) {
        return Status::Error(path + ": metadata key 'general.alignment': expected a power of two, got " +
                             std::to_string(align));
      }
      f_.alignment_ = align;
    }
    if (n_tensors > GgufFile::kMaxTensors || n_tensors > Left() / 32) {
      return Status::Error(path + ": tensor count " + std::to_string(n_tensors) +
                           " is larger than the file can hold (" + std::to_string(Left()) +
                           " bytes left after the metadata)");
    }
    f_.tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) GPT2Q_RETURN_IF_ERROR(ParseTensorInfo(i));
    const uint64_t align = f_.alignment_;
    f_.data_offset_ = (pos_ + align - 1) / align * align;
    return PlaceTensors();
  }

 private:
  uint64_t Left() const { return size_ - pos_; }

  static std::string Quote(std::string_view s) {
    std::string out = "'";
    for (size_t i = 0; i < s.size() && i < 64; ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c >= 0x7F) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + (s.size() > 64 ? "...'" : "'");
  }

  Status Truncated(const std::string& what, uint64_t need) const {
    return Status::Error(f_.path_ + ": truncated GGUF file: " + what + " needs " + std::to_string(need) +
                         " bytes at offset " + std::to_string(pos_) + ", the file has " +
                         std::to_string(Left()) + " left");
  }

  template <typename T>
  Status Read(T* out, const std::string& what) {
    if (Left() < sizeof(T)) return Truncated(what, sizeof(T));
    std::memcpy(out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return OkStatus();
  }

  Status ReadString(std::string_view* out, const std::string& what) {
    uint64_t len = 0;
    GPT2Q_RETURN_IF_ERROR(Read(&len, "the length of " + what));
    if (len > Left()) {
      return Status::Error(f_.path_ + ": " + what + ": string length " + std::to_string(len) +
                           " is larger than the " + std::to_string(Left()) + " bytes left in the file");
    }
    *out = std::string_view(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return OkStatus();
  }

  Status ParseValue(GgufValue* v, const std::string& where) {
    uint32_t type = 0;
    GPT2Q_RETURN_IF_ERROR(Read(&type, "the value type of " + where));
    if (!IsKnownType(type)) {
      return Status::Error(f_.path_ + ": " + where + ": unknown value type " + std::to_string(type) +
                           " (expected 0..12)");
    }
    v->type = static_cast<GgufValueType>(type);
    if (v->type == GgufValueType::kString) return ReadString(&v->string, where);
    if (v->type != GgufValueType::kArray) {
      const int64_t n = ScalarSize(v->type);
      if (Left() < static_cast<uint64_t>(n)) return Truncated("the value of " + where, n);
      v->data = p_ + pos_;
      pos_ += n;
      if (v->type == GgufValueType::kBool && *v->data > 1) {
        return Status::Error(f_.path_ + ": " + where + ": BOOL value " + std::to_string(*v->data) +
                             ", expected 0 or 1");
      }
      return OkStatus();
    }
    uint32_t elem = 0;
    GPT2Q_RETURN_IF_ERROR(Read(&elem, "the element type of " + where));
    if (!IsKnownType(elem) || elem == static_cast<uint32_t>(GgufValueType::kArray)) {
      return Status::Error(f_.path_ + ": " + where + ": array element type " + std::to_string(elem) +
                           " is not supported (expected a scalar type or STRING)");
    }
    v->array_type = static_cast<GgufValueType>(elem);
    GPT2Q_RETURN_IF_ERROR(Read(&v->count, "the element count of " + where));
    const uint64_t min_size = v->array_type == GgufValueType::kString ? 8 : ScalarSize(v->array_type);
    if (v->count > Left() / min_size) {
      return Status::Error(f_.path_ + ": " + where + ": array of " + std::to_string(v->count) + " " +
                           GgufValueTypeName(v->array_type) + " values is larger than the " +
                           std::to_string(Left()) + " bytes left in the file");
    }
    if (v->array_type != GgufValueType::kString) {
      v->data = p_ + pos_;
      pos_ += v->count * min_size;
      return OkStatus();
    }
    v->strings.reserve(v->count);
    for (uint64_t i = 0; i < v->count; ++i) {
      std::string_view s;
      GPT2Q_RETURN_IF_ERROR(ReadString(&s, where + " element " + std::to_string(i)));
      v->strings.push_back(s);
    }
    return OkStatus();
  }

  Status ParsePair(uint64_t index) {
    std::string_view key;
    GPT2Q_RETURN_IF_ERROR(ReadString(&key, "metadata key " + std::to_string(index)));
    if (key.empty()) {
      return Status::Error(f_.path_ + ": metadata key " + std::to_string(index) + " is empty");
    }
    std::string name(key);
    if (f_.key_index_.count(name) != 0) {
      return Status::Error(f_.path_ + ": metadata key " + Quote(key) + " appears twice");
    }
    GgufValue value;
    GPT2Q_RETURN_IF_ERROR(ParseValue(&value, "metadata key " + Quote(key)));
    f_.key_index_[name] = f_.metadata_.size();
    f_.metadata_.emplace_back(std::move(name), std::move(value));
    return OkStatus();
  }

  Status ParseTensorInfo(uint64_t index) {
    std::string_view name;
    GPT2Q_RETURN_IF_ERROR(ReadString(&name, "the name of tensor " + std::to_string(index)));
    const std::string where = "tensor " + Quote(name);
    if (name.empty() || name.size() > GgufFile::kMaxNameBytes) {
      return Status::Error(f_.path_ + ": " + where + " (tensor " + std::to_string(index) +
                           "): name length " + std::to_string(name.size()) + ", expected 1.." +
                           std::to_string(GgufFile::kMaxNameBytes) + " bytes");
    }
    if (f_.tensor_index_.count(name) != 0) return Status::Error(f_.path_ + ": " + where + " appears twice");
    GgufTensor t;
    t.name = std::string(name);
    uint32_t n_dims = 0;
    GPT2Q_RETURN_IF_ERROR(Read(&n_dims, "the dimension count of " + where));
    if (n_dims < 1 || n_dims > GgufFile::kMaxDims) {
      return Status::Error(f_.path_ + ": " + where + ": " + std::to_string(n_dims) +
                           " dimensions, expected 1.." + std::to_string(GgufFile::kMaxDims));
    }
    // Bounded so that numel and bytes cannot overflow: 2^48 values at most.
    constexpr uint64_t kMaxNumel = uint64_t{1} << 48;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      GPT2Q_RETURN_IF_ERROR(Read(&ne, "the shape of " + where));
      if (ne == 0 || ne > kMaxNumel || numel > kMaxNumel / ne) {
        return Status::Error(f_.path_ + ": " + where + ": dimension " + std::to_string(d) + " is " +
                             std::to_string(ne) + ", expected 1.." + std::to_string(kMaxNumel) +
                             " with at most " + std::to_string(kMaxNumel) + " values in all");
      }
      numel *= ne;
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    GPT2Q_RETURN_IF_ERROR(Read(&t.type, "the type of " + where));
    std::optional<GgmlTypeSize> size = GgmlTypeSizeOf(t.type);
    if (!size) {
      return Status::Error(f_.path_ + ": " + where + ": unknown ggml tensor type " + std::to_string(t.type));
    }
    if (t.ne[0] % size->block_values != 0) {
      return Status::Error(f_.path_ + ": " + where + ": rows of " + std::to_string(t.ne[0]) +
                           " values are not whole " + std::string(size->name) + " blocks of " +
                           std::to_string(size->block_values));
    }
    t.nbytes = static_cast<int64_t>(numel / size->block_values * size->block_bytes);
    GPT2Q_RETURN_IF_ERROR(Read(&t.offset, "the offset of " + where));
    f_.tensor_index_[t.name] = f_.tensors_.size();
    f_.tensors_.push_back(std::move(t));
    return OkStatus();
  }

  // Checks every tensor's offset and points its view into the data section.
  Status PlaceTensors() {
    const uint64_t align = f_.alignment_, start = f_.data_offset_;
    const uint64_t data_bytes = start <= size_ ? size_ - start : 0;
    std::vector<size_t> order(f_.tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (GgufTensor& t : f_.tensors_) {
      const std::string where = f_.path_ + ": tensor " + Quote(t.name);
      if (t.offset % align != 0) {
        return Status::Error(where + ": offset " + std::to_string(t.offset) +
                             " is not a multiple of the alignment " + std::to_string(align));
      }
      if (start > size_ || t.offset > data_bytes || static_cast<uint64_t>(t.nbytes) > data_bytes - t.offset) {
        return Status::Error(where + ": bytes [" + std::to_string(t.offset) + ", " +
                             std::to_string(t.offset + static_cast<uint64_t>(t.nbytes)) +
                             ") of the data section are out of range: it holds " +
                             std::to_string(data_bytes) + " bytes (file truncated?)");
      }
      t.data = p_ + start + t.offset;
    }
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return f_.tensors_[a].offset < f_.tensors_[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const GgufTensor& prev = f_.tensors_[order[i - 1]];
      const GgufTensor& cur = f_.tensors_[order[i]];
      if (prev.offset + static_cast<uint64_t>(prev.nbytes) > cur.offset) {
        return Status::Error(f_.path_ + ": tensors " + Quote(prev.name) + " and " + Quote(cur.name) +
                             " overlap: bytes [" + std::to_string(prev.offset) + ", " +
                             std::to_string(prev.offset + prev.nbytes) + ") and [" +
                             std::to_string(cur.offset) + ", " + std::to_string(cur.offset + cur.nbytes) +
                             ") of the data section");
      }
    }
    return OkStatus();
  }

  GgufFile& f_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

Result<std::shared_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> mapped, MappedFile::Open(path));
  const uint8_t* data = mapped->data();
  const size_t size = mapped->size();
  std::shared_ptr<const MappedFile> mapping = mapped;
  GPT2Q_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> file, FromBytes(path, data, size, mapping));
  file->mapping_ = std::move(mapping);
  return file;
}

Result<std::shared_ptr<GgufFile>> GgufFile::FromBytes(const std::string& path, const uint8_t* bytes,
                                                      size_t size, std::shared_ptr<const void> owner) {
  auto file = std::shared_ptr<GgufFile>(new GgufFile());
  file->path_ = path;
  file->owner_ = std::move(owner);
  GgufParser parser(*file, bytes, size);
  GPT2Q_RETURN_IF_ERROR(parser.Parse());
  return file;
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensor* GgufFile::FindTensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::shared_ptr<const void> GgufFile::TensorOwner(const GgufTensor& t) const {
  if (mapping_ == nullptr) return owner_;
  return MappedFile::RegionOwner(mapping_, t.data, static_cast<size_t>(t.nbytes));
}

namespace {

Status Missing(const std::string& path, const std::string& key) {
  return Status::Error(path + ": missing metadata key '" + key + "'");
}

Status WrongType(const std::string& path, const std::string& key, const std::string& expected,
                 const GgufValue& v) {
  std::string got = GgufValueTypeName(v.type);
  if (v.type == GgufValueType::kArray) got += " of " + GgufValueTypeName(v.array_type);
  return Status::Error(path + ": metadata key '" + key + "': expected " + expected + ", got " + got);
}

}  // namespace

Result<std::string> GgufFile::GetString(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->type != GgufValueType::kString) return WrongType(path_, key, "STRING", *v);
  return std::string(v->string);
}

Result<int64_t> GgufFile::GetInt(const std::string& key, int64_t lo, int64_t hi) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  int64_t value = 0;
  if (!IsIntegerType(v->type)) return WrongType(path_, key, "an integer", *v);
  if (!ReadInteger(v->type, v->data, &value) || value < lo || value > hi) {
    uint64_t raw = 0;
    if (v->type == GgufValueType::kU64) std::memcpy(&raw, v->data, 8);
    return Status::Error(path_ + ": metadata key '" + key + "': expected an integer in [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                         (v->type == GgufValueType::kU64 ? std::to_string(raw) : std::to_string(value)));
  }
  return value;
}

Result<int64_t> GgufFile::GetIntOr(const std::string& key, int64_t lo, int64_t hi, int64_t fallback) const {
  if (Find(key) == nullptr) return fallback;
  return GetInt(key, lo, hi);
}

Result<double> GgufFile::GetFloat(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->type == GgufValueType::kF32) {
    float f;
    std::memcpy(&f, v->data, 4);
    return static_cast<double>(f);
  }
  if (v->type == GgufValueType::kF64) {
    double d;
    std::memcpy(&d, v->data, 8);
    return d;
  }
  return WrongType(path_, key, "FLOAT32 or FLOAT64", *v);
}

Result<std::vector<std::string_view>> GgufFile::GetStrings(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->type != GgufValueType::kArray || v->array_type != GgufValueType::kString) {
    return WrongType(path_, key, "ARRAY of STRING", *v);
  }
  return v->strings;
}

Result<std::vector<int64_t>> GgufFile::GetInts(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->type != GgufValueType::kArray || !IsIntegerType(v->array_type)) {
    return WrongType(path_, key, "ARRAY of an integer type", *v);
  }
  const int64_t size = ScalarSize(v->array_type);
  std::vector<int64_t> out(v->count);
  for (uint64_t i = 0; i < v->count; ++i) {
    if (!ReadInteger(v->array_type, v->data + i * size, &out[i])) {
      return Status::Error(path_ + ": metadata key '" + key + "': element " + std::to_string(i) +
                           " does not fit in int64");
    }
  }
  return out;
}

}  // namespace gpt2q
