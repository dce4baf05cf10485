// GPT-2's pre-tokenizer pattern, compiled with PCRE2.
#include "text/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

#include "core/check.h"

namespace gpt2q {
namespace {

// Unicode White_Space, which is what \s means in Python's `regex` module.
// PCRE2's own \s (with UCP) leaves out U+0085, so the class is spelled out.
#define GPT2Q_WS "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

constexpr char kPattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d"
    "| ?\\p{L}+"
    "| ?\\p{N}+"
    "| ?[^" GPT2Q_WS "\\p{L}\\p{N}]+"
    "|[" GPT2Q_WS "]+(?![^" GPT2Q_WS "])"
    "|[" GPT2Q_WS "]+";

#undef GPT2Q_WS

}  // namespace

void Pretokenizer::CodeDeleter::operator()(pcre2_real_code_8* code) const { pcre2_code_free(code); }

Pretokenizer::Matcher::Matcher(const Pretokenizer& owner)
    : match_data_(pcre2_match_data_create_from_pattern(owner.code_.get(), nullptr)) {
  GPT2Q_CHECK(match_data_ != nullptr);
}

Pretokenizer::Matcher::~Matcher() {
  pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
}

Result<Pretokenizer> Pretokenizer::Create() {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code,
                                   &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return Status::Error("pre-tokenizer pattern: PCRE2 compile error at offset " +
                         std::to_string(error_offset) + ": " +
                         reinterpret_cast<const char*>(message));
  }
  // JIT is an optimisation: when it is unavailable, pcre2_match interprets.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return Pretokenizer(code);
}

bool Pretokenizer::NextMatch(const Matcher& matcher, std::string_view text, size_t offset,
                             size_t* begin, size_t* end) const {
  auto* match_data = static_cast<pcre2_match_data*>(matcher.match_data());
  const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(),
                             offset, 0, match_data, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  // Other errors (match or depth limits) cannot happen for this pattern,
  // which has no nested quantifiers; treat them as a broken invariant.
  GPT2Q_CHECK(rc > 0);
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
  *begin = ovector[0];
  *end = ovector[1];
  GPT2Q_CHECK(*begin >= offset && *end > *begin && *end <= text.size());
  return true;
}

}  // namespace gpt2q
