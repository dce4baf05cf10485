// The safetensors header, parsed as a stream: a recursive-descent scanner for
// the one shape a header has, so nesting, counts and string sizes are bounded
// by the grammar and the limits, never by the input.
#include "io/safetensors_header.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

namespace gpt2q {
namespace {

constexpr char kDtypeList[] = "F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL";
// A number longer than this cannot be an int64 (19 digits); the rest is not read.
constexpr size_t kMaxNumberChars = 40;

// Returns at most 200 bytes of `s` for a message, with "..." marking a cut.
std::string Shown(std::string_view s) {
  constexpr size_t kMax = 200;
  return s.size() <= kMax ? std::string(s) : std::string(s.substr(0, kMax)) + "...";
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Returns true if `t` is a whole JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view t) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// Appends the UTF-8 encoding of code point `cp` (at most 0x10FFFF) to `out`.
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Returns the length of the well-formed UTF-8 sequence at `s` (at most `n`
// bytes available, s[0] >= 0x80), or 0 if it is malformed.
size_t Utf8Length(const unsigned char* s, size_t n) {
  auto cont = [&](size_t i, unsigned char lo, unsigned char hi) {
    return i < n && s[i] >= lo && s[i] <= hi;
  };
  const unsigned char c = s[0];
  if (c >= 0xC2 && c <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text, const uint8_t* data_begin,
               uint64_t data_size)
      : path_(path), s_(text), data_begin_(data_begin), data_size_(data_size) {}

  Result<SafetensorsHeader> Parse() {
    SkipSpace();
    const Kind top = PeekKind();
    if (top != Kind::kObject) {
      return TypeError(top, "safetensors header must be a JSON object, got ");
    }
    ++pos_;
    if (!Consume('}')) {
      while (true) {
        GPT2Q_RETURN_IF_ERROR(ReadKey(&key_, "a tensor name"));
        if (key_ == "__metadata__") {
          if (seen_metadata_) return Error("key '__metadata__' appears twice in the header");
          seen_metadata_ = true;
          GPT2Q_RETURN_IF_ERROR(ParseMetadata());
        } else {
          GPT2Q_RETURN_IF_ERROR(ParseTensor(key_));
        }
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Syntax("',' or '}'");
      }
    }
    SkipSpace();
    if (pos_ != s_.size()) return Syntax("the end of the header after its object");
    return std::move(out_);
  }

 private:
  // A JSON value's kind, from its first byte.
  enum class Kind { kObject, kArray, kString, kNumber, kBoolean, kNull, kInvalid, kEnd };

  static const char* KindName(Kind k) {
    switch (k) {
      case Kind::kObject: return "object";
      case Kind::kArray: return "array";
      case Kind::kString: return "string";
      case Kind::kNumber: return "number";
      case Kind::kBoolean: return "boolean";
      case Kind::kNull: return "null";
      default: return "nothing";
    }
  }

  void SkipSpace() {
    // Padding is spaces: skip them 8 at a time first.
    while (s_.size() - pos_ >= 8) {
      uint64_t word;
      std::memcpy(&word, s_.data() + pos_, 8);
      if (word != 0x2020202020202020ull) break;
      pos_ += 8;
    }
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
      ++pos_;
    }
  }

  // Returns the kind of the value starting at pos_ (after SkipSpace).
  Kind PeekKind() const {
    if (pos_ >= s_.size()) return Kind::kEnd;
    const char c = s_[pos_];
    if (c == '{') return Kind::kObject;
    if (c == '[') return Kind::kArray;
    if (c == '"') return Kind::kString;
    if (c == '-' || (c >= '0' && c <= '9')) return Kind::kNumber;
    if (c == 't' || c == 'f') return Kind::kBoolean;
    if (c == 'n') return Kind::kNull;
    return Kind::kInvalid;
  }

  bool Consume(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  Status Error(const std::string& message) const { return Status::Error(path_ + ": " + message); }

  // An error for JSON that does not parse: what was expected at pos_ and what is there.
  Status Syntax(const std::string& expected) const {
    std::string got = "the end of the header";
    if (pos_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[pos_]);
      char buf[16];
      if (c >= 0x20 && c < 0x7F) {
        std::snprintf(buf, sizeof(buf), "'%c'", c);
      } else {
        std::snprintf(buf, sizeof(buf), "byte 0x%02X", c);
      }
      got = buf;
    }
    return Error("safetensors header is not valid JSON: expected " + expected + " at byte " +
                 std::to_string(pos_) + " of the header, got " + got);
  }

  // The error for a value of kind `k` where another kind belongs: `message`
  // followed by the kind's name, or a syntax error if no value starts here.
  Status TypeError(Kind k, const std::string& message) const {
    if (k == Kind::kInvalid || k == Kind::kEnd) return Syntax("a value");
    return Error(message + KindName(k));
  }

  // Reads the string at pos_ (after its kind was checked) into `*out`,
  // decoding escapes and checking UTF-8; an error if it would pass `max` bytes.
  Status ReadString(std::string* out, size_t max, const char* what) {
    out->clear();
    const size_t open = pos_++;
    const size_t n = s_.size();
    while (true) {
      // Scans no further than the limit allows: a huge string is rejected early.
      const size_t stop = std::min(n, pos_ + (max - std::min(max, out->size())) + 1);
      size_t run = pos_;
      while (run < stop) {
        const auto c = static_cast<unsigned char>(s_[run]);
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
        ++run;
      }
      if (out->size() + (run - pos_) > max) return TooLong(what, max, open);
      out->append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= n) return Syntax("the end of the string that starts at byte " + std::to_string(open));
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return OkStatus();
      }
      if (c < 0x20) return Syntax("a character of a string (control characters must be escaped)");
      if (c >= 0x80) {
        const size_t len = Utf8Length(reinterpret_cast<const unsigned char*>(s_.data()) + pos_, n - pos_);
        if (len == 0) return Syntax("well-formed UTF-8");
        out->append(s_.data() + pos_, len);
        pos_ += len;
      } else {
        GPT2Q_RETURN_IF_ERROR(ReadEscape(out));
      }
      if (out->size() > max) return TooLong(what, max, open);
    }
  }

  Status TooLong(const char* what, size_t max, size_t open) const {
    return Error(std::string(what) + " at byte " + std::to_string(open) + " of the header is longer than " +
                 std::to_string(max) + " bytes (the limit)");
  }

  // Reads 4 hex digits at pos_ into `*cp`.
  bool ReadHex4(uint32_t* cp) {
    if (s_.size() - pos_ < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return false;
    }
    pos_ += 4;
    *cp = v;
    return true;
  }

  // Decodes the escape at pos_ (a backslash) onto `*out`.
  Status ReadEscape(std::string* out) {
    ++pos_;
    if (pos_ >= s_.size()) return Syntax("an escape sequence");
    const char e = s_[pos_++];
    switch (e) {
      case '"': out->push_back('"'); return OkStatus();
      case '\\': out->push_back('\\'); return OkStatus();
      case '/': out->push_back('/'); return OkStatus();
      case 'b': out->push_back('\b'); return OkStatus();
      case 'f': out->push_back('\f'); return OkStatus();
      case 'n': out->push_back('\n'); return OkStatus();
      case 'r': out->push_back('\r'); return OkStatus();
      case 't': out->push_back('\t'); return OkStatus();
      case 'u': break;
      default: --pos_; return Syntax("an escape sequence (one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
    }
    uint32_t cp = 0;
    if (!ReadHex4(&cp)) return Syntax("4 hex digits after \\u");
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Syntax("a high surrogate before a low one");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t lo = 0;
      if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') {
        return Syntax("\\u and a low surrogate after a high one");
      }
      pos_ += 2;
      if (!ReadHex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return Syntax("a low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    AppendUtf8(cp, out);
    return OkStatus();
  }

  // Reads an object key and the ':' after it.
  Status ReadKey(std::string* key, const char* what) {
    SkipSpace();
    if (PeekKind() != Kind::kString) return Syntax("a string key");
    GPT2Q_RETURN_IF_ERROR(ReadString(key, kMaxHeaderNameBytes, what));
    if (!Consume(':')) return Syntax("':'");
    return OkStatus();
  }

  // Reads a number that must be a non-negative integer below 2^63. Returns
  // false with `*shown` = what was found instead ("-2", "2.5", "a string").
  // A malformed number is a syntax error in `*status`.
  bool ReadCount(int64_t* out, std::string* shown, Status* status) {
    SkipSpace();
    const Kind k = PeekKind();
    if (k != Kind::kNumber) {
      if (k == Kind::kInvalid || k == Kind::kEnd) {
        *status = Syntax("a number");
      } else {
        *shown = std::string(k == Kind::kArray || k == Kind::kObject ? "an " : "a ") + KindName(k);
      }
      return false;
    }
    const size_t start = pos_;
    while (pos_ < s_.size() && pos_ - start <= kMaxNumberChars) {
      const char c = s_[pos_];
      if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) break;
      ++pos_;
    }
    const std::string_view text = s_.substr(start, pos_ - start);
    if (text.size() > kMaxNumberChars) {
      *shown = std::string(text.substr(0, kMaxNumberChars)) + "... (a number of more than " +
               std::to_string(kMaxNumberChars) + " characters)";
      return false;
    }
    if (!IsJsonNumber(text)) {
      pos_ = start;
      *status = Syntax("a number");
      return false;
    }
    int64_t v = 0;
    for (char c : text) {
      if (c < '0' || c > '9' || __builtin_mul_overflow(v, 10, &v) ||
          __builtin_add_overflow(v, c - '0', &v)) {
        *shown = std::string(text);
        return false;
      }
    }
    *out = v;
    return true;
  }

  Status ParseMetadata() {
    SkipSpace();
    const Kind k = PeekKind();
    if (k != Kind::kObject) return TypeError(k, "__metadata__ must be an object of strings, got ");
    ++pos_;
    if (Consume('}')) return OkStatus();
    std::string key, value;
    while (true) {
      GPT2Q_RETURN_IF_ERROR(ReadKey(&key, "a __metadata__ key"));
      SkipSpace();
      const Kind v = PeekKind();
      if (v != Kind::kString) {
        return TypeError(v, "__metadata__ key '" + Shown(key) + "': expected a string, got ");
      }
      GPT2Q_RETURN_IF_ERROR(ReadString(&value, kMaxHeaderMetadataValueBytes, "a __metadata__ value"));
      if (static_cast<int64_t>(out_.metadata.size()) >= kMaxHeaderMetadataEntries) {
        return Error("__metadata__ has more than " + std::to_string(kMaxHeaderMetadataEntries) +
                     " keys (the limit)");
      }
      if (!out_.metadata.emplace(key, std::move(value)).second) {
        return Error("__metadata__ key '" + Shown(key) + "' appears twice");
      }
      if (Consume(',')) continue;
      if (Consume('}')) return OkStatus();
      return Syntax("',' or '}'");
    }
  }

  Status ParseTensor(const std::string& name) {
    if (static_cast<int64_t>(out_.tensors.size()) >= kMaxHeaderTensors) {
      return Error("the header has more than " + std::to_string(kMaxHeaderTensors) +
                   " tensors (the limit)");
    }
    // Messages are built only on failure: a header may hold 100,000 tensors.
    auto where = [&] { return "tensor '" + Shown(name) + "'"; };
    auto bad_offsets = [&] {
      return Error(where() + ": 'data_offsets' must be [begin, end] with non-negative integers");
    };
    SkipSpace();
    const Kind k = PeekKind();
    if (k != Kind::kObject) return TypeError(k, where() + ": expected an object, got ");
    ++pos_;
    TensorView view;
    bool have_dtype = false, have_shape = false, have_offsets = false;
    int64_t begin = 0, end = 0;
    std::string shown;
    Status syntax;
    if (!Consume('}')) {
      std::string key, text;
      while (true) {
        GPT2Q_RETURN_IF_ERROR(ReadKey(&key, "a key of a tensor"));
        bool* seen = key == "dtype" ? &have_dtype
                     : key == "shape" ? &have_shape
                     : key == "data_offsets" ? &have_offsets
                                             : nullptr;
        if (seen == nullptr) {
          return Error(where() + ": unexpected key '" + Shown(key) +
                       "' (a tensor has only dtype, shape and data_offsets)");
        }
        if (*seen) return Error(where() + ": key '" + key + "' appears twice");
        *seen = true;
        SkipSpace();
        const Kind v = PeekKind();
        if (key == "dtype") {
          if (v != Kind::kString) {
            if (v == Kind::kInvalid || v == Kind::kEnd) return Syntax("a value");
            return Error(where() + ": missing or non-string 'dtype'");
          }
          GPT2Q_RETURN_IF_ERROR(ReadString(&text, kMaxHeaderNameBytes, "a dtype"));
          std::optional<Dtype> dtype = ParseDtype(text);
          if (!dtype) {
            return Error(where() + ": unknown dtype '" + Shown(text) + "' (expected one of " +
                         kDtypeList + ")");
          }
          view.dtype = *dtype;
        } else if (key == "shape") {
          if (v != Kind::kArray) {
            if (v == Kind::kInvalid || v == Kind::kEnd) return Syntax("a value");
            return Error(where() + ": missing or non-array 'shape'");
          }
          ++pos_;
          if (!Consume(']')) {
            while (true) {
              int64_t dim = 0;
              if (!ReadCount(&dim, &shown, &syntax)) {
                if (!syntax.ok()) return syntax;
                return Error(where() + ": shape entries must be non-negative integers, got " + shown);
              }
              if (static_cast<int64_t>(view.shape.size()) >= kMaxTensorRank) {
                return Error(where() + ": shape has more than " + std::to_string(kMaxTensorRank) +
                             " dimensions (the limit)");
              }
              view.shape.push_back(dim);
              if (Consume(',')) continue;
              if (Consume(']')) break;
              return Syntax("',' or ']'");
            }
          }
        } else {
          if (v != Kind::kArray) {
            if (v == Kind::kInvalid || v == Kind::kEnd) return Syntax("a value");
            return bad_offsets();
          }
          ++pos_;
          if (!ReadCount(&begin, &shown, &syntax) || !Consume(',') ||
              !ReadCount(&end, &shown, &syntax) || !Consume(']')) {
            if (!syntax.ok()) return syntax;
            return bad_offsets();
          }
        }
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Syntax("',' or '}'");
      }
    }
    return AddTensor(name, std::move(view), have_dtype, have_shape, have_offsets, begin, end);
  }

  // Checks a complete entry (in the order the old DOM-based reader did) and keeps it.
  Status AddTensor(const std::string& name, TensorView view, bool have_dtype, bool have_shape,
                   bool have_offsets, int64_t begin, int64_t end) {
    auto where = [&] { return "tensor '" + Shown(name) + "'"; };
    if (!have_dtype) return Error(where() + ": missing or non-string 'dtype'");
    if (!have_shape) return Error(where() + ": missing or non-array 'shape'");
    uint64_t numel = 1, expected_bytes = 0;
    bool overflow = false;
    for (int64_t dim : view.shape) {
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel)) overflow = true;
    }
    if (overflow || __builtin_mul_overflow(numel, static_cast<uint64_t>(DtypeSize(view.dtype)),
                                           &expected_bytes)) {
      return Error(where() + ": shape " + ShapeString(view.shape) +
                   " has more elements than fit in 64 bits");
    }
    if (!have_offsets) {
      return Error(where() + ": 'data_offsets' must be [begin, end] with non-negative integers");
    }
    if (begin > end) {
      return Error(where() + ": data_offsets begin " + std::to_string(begin) + " is after end " +
                   std::to_string(end));
    }
    if (static_cast<uint64_t>(end) > data_size_) {
      return Error(where() + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "] out of range: the data section has " + std::to_string(data_size_) + " bytes");
    }
    const uint64_t nbytes = static_cast<uint64_t>(end - begin);
    if (nbytes != expected_bytes) {
      return Error(where() + ": size mismatch: shape " + ShapeString(view.shape) + " " +
                   DtypeName(view.dtype) + " needs " + std::to_string(expected_bytes) +
                   " bytes, data_offsets give " + std::to_string(nbytes));
    }
    view.name = name;
    view.data = data_begin_ + begin;
    view.nbytes = static_cast<int64_t>(nbytes);
    out_.tensors.push_back(std::move(view));
    out_.ranges.emplace_back(begin, end);
    return OkStatus();
  }

  const std::string& path_;
  std::string_view s_;
  const uint8_t* data_begin_;
  uint64_t data_size_;
  size_t pos_ = 0;
  bool seen_metadata_ = false;
  std::string key_;
  SafetensorsHeader out_;
};

}  // namespace

Result<SafetensorsHeader> ParseSafetensorsHeader(const std::string& path, std::string_view header,
                                                 const uint8_t* data_begin, uint64_t data_size) {
  return HeaderParser(path, header, data_begin, data_size).Parse();
}

}  // namespace gpt2q
