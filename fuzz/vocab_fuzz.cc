// libFuzzer target: arbitrary bytes as vocab.json (with a merges.txt that has
// no rules, so every input reaches the vocabulary's own checks: JSON, integer
// ids forming a permutation, GPT-2's byte alphabet, byte tokens, the special
// token). Loading must fail with a message naming a file, or give a tokenizer
// whose tokens decode to their own bytes and for which Decode(Encode(x)) == x.
// merges_fuzz covers vocab.json and merges.txt together.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "text/tokenizer.h"

namespace {

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "vocab_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view vocab(reinterpret_cast<const char*>(data), size);
  auto loaded = gpt2q::Tokenizer::FromStrings(vocab, "#version: 0.2\n");
  if (!loaded.ok()) {
    const std::string& m = loaded.message();
    Require(m.rfind("vocab.json", 0) == 0 || m.rfind("merges.txt", 0) == 0,
            "error that does not start with the file's name");
    return 0;
  }
  const gpt2q::Tokenizer& tokenizer = loaded.value();
  Require(tokenizer.vocab_size() >= 257, "a vocabulary without the 256 byte tokens and <|endoftext|>");
  Require(tokenizer.TokenText(tokenizer.eot_id()) == gpt2q::Tokenizer::kEndOfText,
          "eot_id() does not spell <|endoftext|>");
  const int32_t n = static_cast<int32_t>(tokenizer.vocab_size());
  for (int32_t id = 0; id < n && id < 4096; ++id) {
    const int32_t one[1] = {id};
    auto text = tokenizer.Decode(one);
    Require(text.ok() && *text == tokenizer.TokenText(id), "Decode({id}) != TokenText(id)");
  }
  const int32_t out_of_range[1] = {n};
  Require(!tokenizer.Decode(out_of_range).ok(), "Decode accepted an id outside the vocabulary");
  for (std::string_view text : {std::string_view("Hello, world!\n\xff\xfe <|endoftext|>"), vocab.substr(0, 64)}) {
    const std::vector<int32_t> ids = tokenizer.Encode(text);
    for (int32_t id : ids) Require(id >= 0 && id < n, "id out of range");
    auto decoded = tokenizer.Decode(ids);
    Require(decoded.ok() && *decoded == text, "Decode(Encode(x)) != x");
  }
  return 0;
}
