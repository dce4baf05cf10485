// libFuzzer target: arbitrary bytes as merges.txt and/or vocab.json. Loading
// must fail cleanly or give a tokenizer for which Decode(Encode(x)) == x.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "text/byte_unicode.h"
#include "text/tokenizer.h"

namespace {

// A small byte-level vocabulary: the 256 byte tokens, a few merged tokens and
// "<|endoftext|>", so that fuzzed merges can name real symbols.
const std::string& SmallVocab() {
  static const std::string* vocab = [] {
    auto* json = new std::string("{");
    int id = 0;
    auto add = [&](const std::string& spelling) {
      std::string escaped;
      for (char c : spelling) {
        if (c == '"' || c == '\\') escaped.push_back('\\');
        escaped.push_back(c);
      }
      *json += (id == 0 ? "\"" : ", \"") + escaped + "\": " + std::to_string(id);
      ++id;
    };
    for (int b = 0; b < 256; ++b) add(gpt2q::ByteToVocabSpelling(static_cast<uint8_t>(b)));
    for (const char* t : {"ab", "abc", "bc", "aa", "aaa", "aaaa", "\xC4\xA0" "a", "\xC4\xA0" "ab", "th", "the"}) {
      add(t);
    }
    add("<|endoftext|>");
    *json += "}";
    return json;
  }();
  return *vocab;
}

constexpr std::string_view kSmallMerges = "#version: 0.2\na b\nab c\nb c\na a\naa a\naa aa\n"
                                           "\xC4\xA0 a\n\xC4\xA0" "a b\nt h\nth e\n";

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "merges_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks what the rest is: merges.txt, vocab.json, or both
  // split at the first NUL byte.
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string_view vocab = SmallVocab(), merges = kSmallMerges;
  switch (data[0] % 3) {
    case 0:
      merges = rest;
      break;
    case 1:
      vocab = rest;
      break;
    default: {
      const size_t split = rest.find('\0');
      vocab = rest.substr(0, split);
      merges = split == std::string_view::npos ? std::string_view() : rest.substr(split + 1);
    }
  }
  auto loaded = gpt2q::Tokenizer::FromStrings(vocab, merges);
  if (!loaded.ok()) {
    Require(!loaded.message().empty(), "error without a message");
    return 0;
  }
  const gpt2q::Tokenizer& tokenizer = loaded.value();
  for (std::string_view text : {std::string_view("aaaaabcabc the ab\n\n  x"), rest.substr(0, 64)}) {
    const std::vector<int32_t> ids = tokenizer.Encode(text);
    auto decoded = tokenizer.Decode(ids);
    Require(decoded.ok() && decoded.value() == text, "Decode(Encode(x)) != x");
  }
  return 0;
}
