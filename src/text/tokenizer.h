// GPT-2's byte-level BPE tokenizer (vocab.json + merges.txt), as OpenAI's
// encoder.py and Hugging Face's GPT2Tokenizer.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "text/bpe.h"
#include "text/pretokenizer.h"

namespace gpt2q {

// Encodes text to token ids and back. Encoding splits the text with the
// Pretokenizer, then merges each piece's bytes with the BPE rules of
// merges.txt. Results of pieces are kept in a cache owned by the Tokenizer.
//
// Any byte string encodes, and Decode(Encode(x)) == x for every byte string x:
// bytes that are not valid UTF-8 form pieces of their own (see Pretokenizer)
// and are encoded with the byte-level tokens like any other bytes.
//
// Thread-safe: all const methods may run concurrently.
class Tokenizer {
 public:
  // The only special token of GPT-2.
  static constexpr std::string_view kEndOfText = "<|endoftext|>";

  // Loads vocab.json (an object mapping token spellings to ids 0..N-1) and
  // merges.txt (an optional "#version" first line, then one "left right" rule
  // per line, highest priority first). Fails, naming the file, the line or
  // token and what is wrong, on unreadable files, bad JSON, ids that are not
  // integers or not a permutation of 0..N-1, tokens with characters outside
  // GPT-2's byte alphabet, a missing byte token or "<|endoftext|>", merges
  // lines without exactly two symbols, symbols or merged results absent from
  // the vocab, repeated merge rules, and files that disagree: a token longer
  // than one byte (special "<|...|>" tokens aside) that no merge makes (an
  // empty or truncated merges.txt), or two merges that make the same token.
  static Result<Tokenizer> Load(const std::string& vocab_json_path,
                                const std::string& merges_txt_path);

  // As Load, from the files' contents; `vocab_name` and `merges_name` stand
  // for the files in error messages.
  static Result<Tokenizer> FromStrings(std::string_view vocab_json, std::string_view merges_txt,
                                       std::string_view vocab_name = "vocab.json",
                                       std::string_view merges_name = "merges.txt");

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Returns the token ids of `text`. "<|endoftext|>" in the text is plain
  // characters here (7 tokens), as in encoder.py.
  std::vector<int32_t> Encode(std::string_view text) const;

  // As Encode, but each literal "<|endoftext|>" becomes eot_id().
  std::vector<int32_t> EncodeWithSpecialTokens(std::string_view text) const;

  // Returns the bytes of `ids` concatenated (not necessarily valid UTF-8 when
  // the ids split a character). Fails, naming the position and the id, if an
  // id is outside [0, vocab_size()).
  Result<std::string> Decode(std::span<const int32_t> ids) const;

  // Returns the raw bytes of token `id` ("Ġthe" in vocab.json is " the"), or
  // an empty view if `id` is outside [0, vocab_size()).
  std::string_view TokenText(int32_t id) const;

  // Returns the id of "<|endoftext|>" (50256 for GPT-2).
  int32_t eot_id() const { return eot_id_; }

  // Returns the number of tokens in vocab.json (50257 for GPT-2).
  int64_t vocab_size() const { return static_cast<int64_t>(token_bytes_.size()); }

  // Empties the piece cache (for cold-cache benchmarks and to bound memory).
  void ClearCache() const;

 private:
  class PieceCache;

  Tokenizer(Pretokenizer pretokenizer, std::vector<std::string> token_bytes,
            std::array<int32_t, 256> byte_ids, BpeMerges merges, int32_t eot_id);

  // Appends the BPE ids of one piece to `*out`.
  void EncodePiece(std::string_view piece, std::vector<int32_t>* out) const;

  Pretokenizer pretokenizer_;
  std::vector<std::string> token_bytes_;  // id -> raw bytes
  std::array<int32_t, 256> byte_ids_;      // byte -> id of its single-byte token
  BpeMerges merges_;
  int32_t eot_id_;
  std::unique_ptr<PieceCache> cache_;
};

}  // namespace gpt2q
