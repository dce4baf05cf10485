// Tokenizer loading: parsing and validating vocab.json and merges.txt.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <unordered_map>

#include "text/byte_unicode.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

// Returns `s` quoted for an error message: at most 40 bytes, control
// characters and bytes of broken UTF-8 as \xNN.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxShown = 40;
  const bool utf8 = IsValidUtf8(s);
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02X", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMaxShown) out += "...";
  return out + "'";
}

std::string CodepointName(uint32_t cp) {
  if (cp == 0xFFFFFFFFu) return "malformed UTF-8";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "character U+%04X", cp);
  return buf;
}

using Json = nlohmann::json;

// Reads vocab.json as a stream of SAX events: one flat object whose values
// are integers. Keeps every (spelling, id) pair, rejecting repeated keys
// (which a DOM parser would silently collapse).
class VocabSax : public nlohmann::json_sax<Json> {
 public:
  explicit VocabSax(std::string_view name) : name_(name) {}

  std::vector<std::pair<std::string, int64_t>> entries;
  std::string error;

  bool null() override { return NotAnId("null"); }
  bool boolean(bool) override { return NotAnId("a boolean"); }
  bool number_integer(number_integer_t v) override { return Id(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return Id(v > static_cast<number_unsigned_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v));
  }
  bool number_float(number_float_t, const string_t& text) override {
    return NotAnId("the non-integer " + text);
  }
  bool string(string_t&) override { return NotAnId("a string"); }
  bool binary(binary_t&) override { return NotAnId("binary data"); }
  bool start_object(std::size_t) override {
    if (depth_++ == 0) return true;
    return NotAnId("an object");
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return NotAnId("an array"); }
  bool end_array() override { return true; }
  bool key(string_t& k) override {
    if (!seen_.emplace(k, entries.size()).second) {
      return Fail("token " + Quote(k) + " appears twice");
    }
    key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return Fail(std::string("invalid JSON: ") + e.what());
  }

 private:
  bool Fail(const std::string& message) {
    if (error.empty()) error = std::string(name_) + ": " + message;
    return false;
  }
  bool NotAnId(const std::string& what) {
    if (depth_ == 0) return Fail("expected a JSON object mapping tokens to ids, got " + what);
    return Fail("token " + Quote(key_) + " has " + what + " where an integer id is expected");
  }
  bool Id(int64_t id) {
    if (depth_ == 0) return Fail("expected a JSON object mapping tokens to ids, got a number");
    entries.emplace_back(key_, id);
    return true;
  }

  std::string_view name_;
  int depth_ = 0;
  std::string key_;
  std::unordered_map<std::string, size_t> seen_;
};

// Returns `v` with thousands separators: 50,257.
std::string WithCommas(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

// Returns true for a special token's spelling, "<|...|>" as "<|endoftext|>".
bool IsSpecialSpelling(std::string_view s) {
  return s.size() >= 4 && s.starts_with("<|") && s.ends_with("|>");
}

// Splits one merges.txt line into fields separated by spaces or tabs.
std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

}  // namespace

Result<Tokenizer> Tokenizer::Load(const std::string& vocab_json_path,
                                  const std::string& merges_txt_path) {
  GPT2Q_ASSIGN_OR_RETURN(std::string vocab, ReadBinaryFile(vocab_json_path));
  GPT2Q_ASSIGN_OR_RETURN(std::string merges, ReadBinaryFile(merges_txt_path));
  return FromStrings(vocab, merges, vocab_json_path, merges_txt_path);
}

Result<Tokenizer> Tokenizer::FromStrings(std::string_view vocab_json, std::string_view merges_txt,
                                         std::string_view vocab_name,
                                         std::string_view merges_name) {
  const std::string vname(vocab_name), mname(merges_name);

  // vocab.json: spellings -> ids, a permutation of 0..N-1.
  VocabSax sax(vocab_name);
  if (!Json::sax_parse(vocab_json.begin(), vocab_json.end(), &sax) || !sax.error.empty()) {
    return Status::Error(sax.error.empty() ? vname + ": invalid JSON" : sax.error);
  }
  const int64_t n = static_cast<int64_t>(sax.entries.size());
  if (n == 0) return Status::Error(vname + ": the vocabulary is empty");
  if (n > INT32_MAX) return Status::Error(vname + ": more than 2^31-1 tokens");
  std::vector<const std::string*> spelling_of(n, nullptr);
  std::unordered_map<std::string_view, int32_t> id_of;
  id_of.reserve(n);
  for (const auto& [spelling, id] : sax.entries) {
    if (id < 0 || id >= n) {
      return Status::Error(vname + ": token " + Quote(spelling) + " has id " + std::to_string(id) +
                           ", outside [0, " + std::to_string(n) + ") for " + std::to_string(n) +
                           " tokens");
    }
    if (spelling_of[id] != nullptr) {
      return Status::Error(vname + ": tokens " + Quote(*spelling_of[id]) + " and " +
                           Quote(spelling) + " share id " + std::to_string(id));
    }
    spelling_of[id] = &spelling;
    id_of.emplace(spelling, static_cast<int32_t>(id));
  }
  std::vector<std::string> token_bytes(n);
  for (int64_t id = 0; id < n; ++id) {
    uint32_t bad = 0;
    if (!VocabSpellingToBytes(*spelling_of[id], &token_bytes[id], &bad)) {
      return Status::Error(vname + ": token " + Quote(*spelling_of[id]) + " (id " +
                           std::to_string(id) + ") has " + CodepointName(bad) +
                           ", which is outside GPT-2's byte alphabet");
    }
  }
  std::array<int32_t, 256> byte_ids{};
  for (int b = 0; b < 256; ++b) {
    auto it = id_of.find(ByteToVocabSpelling(static_cast<uint8_t>(b)));
    if (it == id_of.end()) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", b);
      return Status::Error(vname + ": no token for byte " + hex + " (spelled " +
                           Quote(ByteToVocabSpelling(static_cast<uint8_t>(b))) + ")");
    }
    byte_ids[b] = it->second;
  }
  auto eot = id_of.find(kEndOfText);
  if (eot == id_of.end()) return Status::Error(vname + ": no token " + Quote(kEndOfText));
  const int32_t eot_id = eot->second;

  // merges.txt: "left right" per line; the line number is the rank.
  BpeMerges merges;
  std::vector<int32_t> made_by(n, 0);  // token id -> the merges.txt line that makes it
  int64_t line_number = 0;
  std::string merged;
  for (size_t pos = 0; pos < merges_txt.size();) {
    size_t eol = merges_txt.find('\n', pos);
    if (eol == std::string_view::npos) eol = merges_txt.size();
    std::string_view line = merges_txt.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_number == 1 && line.starts_with("#version")) continue;
    const std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty()) continue;  // blank lines, as encoder.py
    const std::string where = mname + " line " + std::to_string(line_number) + ": ";
    if (fields.size() != 2) {
      return Status::Error(where + "expected two symbols separated by a space, got " +
                           std::to_string(fields.size()) + " in " + Quote(line));
    }
    if (line_number > INT32_MAX) return Status::Error(where + "more than 2^31-1 lines");
    int32_t ids[2];
    for (int k = 0; k < 2; ++k) {
      auto it = id_of.find(fields[k]);
      if (it == id_of.end()) {
        return Status::Error(where + "symbol " + Quote(fields[k]) + " is not in " + vname);
      }
      ids[k] = it->second;
    }
    merged.assign(fields[0]);
    merged.append(fields[1]);
    auto it = id_of.find(merged);
    if (it == id_of.end()) {
      return Status::Error(where + "the merge of " + Quote(fields[0]) + " and " +
                           Quote(fields[1]) + ", " + Quote(merged) + ", is not in " + vname +
                           ": " + vname + " looks incomplete, or the two files are not of one "
                           "tokenizer");
    }
    const int32_t rank = static_cast<int32_t>(line_number);
    if (!merges.Add(ids[0], ids[1], rank, it->second)) {
      const int32_t first = merges.Find(ids[0], ids[1])->rank;
      return Status::Error(where + "the rule " + Quote(line) + " repeats line " +
                           std::to_string(first));
    }
    if (made_by[it->second] != 0) {
      return Status::Error(where + "the merge of " + Quote(fields[0]) + " and " +
                           Quote(fields[1]) + " makes " + Quote(merged) + ", which line " +
                           std::to_string(made_by[it->second]) + " already makes: each token of " +
                           vname + " must come from one merge");
    }
    made_by[it->second] = rank;
  }

  // The files must agree: byte-level BPE makes every token longer than one
  // byte by exactly one merge, so vocab = 256 byte tokens + merges + special
  // tokens ("<|endoftext|>"). An empty or cut merges.txt leaves tokens that no
  // merge makes, and would silently tokenize into far more tokens.
  int64_t specials = 0, first_unmade = -1;
  for (int64_t id = 0; id < n; ++id) {
    if (token_bytes[id].size() == 1 || made_by[id] != 0) continue;
    if (IsSpecialSpelling(*spelling_of[id])) {
      ++specials;
    } else if (first_unmade < 0) {
      first_unmade = id;
    }
  }
  if (first_unmade >= 0) {
    const int64_t made = static_cast<int64_t>(merges.size());
    int64_t expected = n - 256 - specials;
    return Status::Error(
        mname + " has " + WithCommas(made) + " merges but " + vname + " has " + WithCommas(n) +
        " tokens (expected " + WithCommas(expected) + " merges: 256 byte tokens + merges + " +
        std::to_string(specials) + " special): " + mname + " looks " +
        (made == 0 ? "empty" : "truncated") + "; no merge makes token " +
        Quote(*spelling_of[first_unmade]) + " (id " + std::to_string(first_unmade) + ")");
  }

  GPT2Q_ASSIGN_OR_RETURN(Pretokenizer pretokenizer, Pretokenizer::Create());
  return Tokenizer(std::move(pretokenizer), std::move(token_bytes), byte_ids, std::move(merges),
                   eot_id);
}

}  // namespace gpt2q
