// GPT-2's pre-tokenizer: splits text into the pieces that BPE encodes one by one.
#pragma once

#include <memory>
#include <string_view>

#include "core/status.h"

struct pcre2_real_code_8;

namespace gpt2q {

// Splits UTF-8 text with GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// where \s is Unicode White_Space (as in Python's `regex` module, which
// OpenAI's encoder.py and Hugging Face's GPT2Tokenizer use), compiled once
// with PCRE2 (UTF + UCP, JIT).
//
// Invalid UTF-8: the pattern is matched with PCRE2_MATCH_INVALID_UTF, so
// well-formed characters split exactly as in valid text and each maximal run
// of bytes that are not well-formed UTF-8 becomes a piece of its own. Every
// byte of the input lands in exactly one piece, in order, so the pieces
// concatenate back to the input for any byte string.
//
// Thread-safe: ForEachPiece may run concurrently on one Pretokenizer.
class Pretokenizer {
 public:
  // Compiles the pattern. Fails only if PCRE2 rejects it (a PCRE2 built
  // without Unicode support).
  static Result<Pretokenizer> Create();

  // Calls `emit(std::string_view piece)` for each piece of `text`, in order.
  // Pieces are views into `text`, never empty.
  template <typename Emit>
  void ForEachPiece(std::string_view text, Emit&& emit) const;

 private:
  struct CodeDeleter {
    void operator()(pcre2_real_code_8* code) const;
  };
  // Owns the PCRE2 match data of one ForEachPiece call.
  class Matcher {
   public:
    explicit Matcher(const Pretokenizer& owner);
    ~Matcher();
    Matcher(const Matcher&) = delete;
    Matcher& operator=(const Matcher&) = delete;
    void* match_data() const { return match_data_; }

   private:
    void* match_data_;
  };

  explicit Pretokenizer(pcre2_real_code_8* code) : code_(code) {}

  // Finds the first match at or after `offset`; returns false if there is
  // none. Sets [*begin, *end) to the match.
  bool NextMatch(const Matcher& matcher, std::string_view text, size_t offset, size_t* begin,
                 size_t* end) const;

  std::unique_ptr<pcre2_real_code_8, CodeDeleter> code_;
};

template <typename Emit>
void Pretokenizer::ForEachPiece(std::string_view text, Emit&& emit) const {
  Matcher matcher(*this);
  size_t offset = 0;
  while (offset < text.size()) {
    size_t begin, end;
    if (!NextMatch(matcher, text, offset, &begin, &end)) {
      emit(text.substr(offset));  // a trailing run of invalid UTF-8
      return;
    }
    if (begin > offset) emit(text.substr(offset, begin - offset));  // invalid UTF-8
    emit(text.substr(begin, end - begin));
    offset = end;
  }
}

}  // namespace gpt2q
