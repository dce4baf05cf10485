// libFuzzer target: arbitrary bytes as a text file (a corpus, a prompt).
// FindInvalidUtf8 must agree with a plain code-point decoder written from
// RFC 3629, and ReadTextFile must return the bytes exactly when they are valid
// UTF-8 and otherwise fail naming the file and the offset of the first bad byte.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "text/text_file.h"

namespace {

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "text_file_fuzz: %s\n", what);
    std::abort();
  }
}

// The reference: decode one code point at a time, then reject overlong forms,
// surrogates and values above U+10FFFF by the decoded value.
std::optional<size_t> ReferenceFirstInvalid(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const uint8_t c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1, cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > text.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::nullopt;
}

const std::string& TempPath() {
  static const std::string* path = [] {
    char tmpl[] = "/tmp/gpt2q_text_fuzz_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) std::abort();
    ::close(fd);
    return new std::string(tmpl);
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<size_t> bad = gpt2q::FindInvalidUtf8(text);
  Require(bad == ReferenceFirstInvalid(text), "FindInvalidUtf8 differs from the reference decoder");
  Require(gpt2q::IsValidUtf8(text) == !bad.has_value(), "IsValidUtf8 differs from FindInvalidUtf8");

  const std::string& path = TempPath();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  auto binary = gpt2q::ReadBinaryFile(path);
  Require(binary.ok() && *binary == text, "ReadBinaryFile did not return the file's bytes");
  auto read = gpt2q::ReadTextFile(path);
  if (bad) {
    Require(!read.ok(), "ReadTextFile accepted invalid UTF-8");
    Require(read.message().find(path) != std::string::npos, "the error does not name the file");
    Require(read.message().find("byte offset " + std::to_string(*bad)) != std::string::npos,
            "the error does not name the offset of the first bad byte");
  } else {
    Require(read.ok() && *read == text, "ReadTextFile did not return valid UTF-8 unchanged");
  }
  return 0;
}
