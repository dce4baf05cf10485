// Conversions between raw bytes and their vocab.json spelling.
#include "text/byte_unicode.h"

namespace gpt2q {

std::string ByteToVocabSpelling(uint8_t byte) {
  const uint32_t cp = kByteToCodepoint[byte];
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {  // every code point of the alphabet is below U+0800: two bytes
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

bool VocabSpellingToBytes(const std::string& spelling, std::string* bytes, uint32_t* bad_codepoint) {
  bytes->clear();
  const auto* s = reinterpret_cast<const uint8_t*>(spelling.data());
  const size_t n = spelling.size();
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    if (s[i] < 0x80) {
      cp = s[i];
      i += 1;
    } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
      cp = ((s[i] & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
      i += 2;
      if (cp < 0x80) {  // overlong form
        *bad_codepoint = 0xFFFFFFFFu;
        return false;
      }
    } else {
      // Three- and four-byte characters are all above the alphabet; report
      // the character when it is well formed, else bad UTF-8.
      size_t len = (s[i] & 0xF0) == 0xE0 ? 3 : (s[i] & 0xF8) == 0xF0 ? 4 : 0;
      uint32_t value = 0xFFFFFFFFu;
      if (len != 0 && i + len <= n) {
        value = s[i] & (len == 3 ? 0x0Fu : 0x07u);
        for (size_t k = 1; k < len; ++k) {
          if ((s[i + k] & 0xC0) != 0x80) {
            value = 0xFFFFFFFFu;
            break;
          }
          value = (value << 6) | (s[i + k] & 0x3Fu);
        }
      }
      *bad_codepoint = value;
      return false;
    }
    if (cp > kMaxByteCodepoint || kCodepointToByte[cp] < 0) {
      *bad_codepoint = cp;
      return false;
    }
    bytes->push_back(static_cast<char>(kCodepointToByte[cp]));
  }
  return true;
}

}  // namespace gpt2q
