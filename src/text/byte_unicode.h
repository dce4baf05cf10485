// GPT-2's reversible map between bytes and printable Unicode characters.
//
// vocab.json and merges.txt spell every byte as one printable character:
// the printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand
// for themselves and the other 68 bytes map, in byte order, to U+0100..U+0143
// (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A). This is bytes_to_unicode() of
// OpenAI's encoder.py. The tables are compile-time constants.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace gpt2q {

// Returns the code point that spells `byte` in vocab.json.
constexpr std::array<uint16_t, 256> MakeByteToCodepoint() {
  std::array<uint16_t, 256> table{};
  uint16_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    table[b] = printable ? static_cast<uint16_t>(b) : next++;
  }
  return table;
}
inline constexpr std::array<uint16_t, 256> kByteToCodepoint = MakeByteToCodepoint();

// The highest code point of the byte alphabet (U+0143).
inline constexpr uint32_t kMaxByteCodepoint = 256 + 68 - 1;

// Returns the byte spelled by code point `cp`, or -1 if `cp` is not in the
// byte alphabet.
constexpr std::array<int16_t, kMaxByteCodepoint + 1> MakeCodepointToByte() {
  std::array<int16_t, kMaxByteCodepoint + 1> table{};
  for (auto& v : table) v = -1;
  const auto forward = MakeByteToCodepoint();
  for (int b = 0; b < 256; ++b) table[forward[b]] = static_cast<int16_t>(b);
  return table;
}
inline constexpr std::array<int16_t, kMaxByteCodepoint + 1> kCodepointToByte = MakeCodepointToByte();

// Returns the UTF-8 spelling (as in vocab.json) of a single raw byte.
std::string ByteToVocabSpelling(uint8_t byte);

// Converts the vocab.json spelling of a token into its raw bytes. Returns false
// (leaving `*bytes` unspecified) if `spelling` is not valid UTF-8 or holds a
// character outside the byte alphabet; then `*bad_codepoint` is that character
// (or 0xFFFFFFFF for bad UTF-8).
bool VocabSpellingToBytes(const std::string& spelling, std::string* bytes, uint32_t* bad_codepoint);

}  // namespace gpt2q
