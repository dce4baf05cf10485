// Tokenizer: encoding with the piece cache, special tokens and decoding.
#include "text/tokenizer.h"

#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace gpt2q {
namespace {

// Pieces longer than this are not cached: long pieces (runs of spaces, long
// numbers, binary junk) are rare in text and would bloat the cache.
constexpr size_t kMaxCachedPieceBytes = 64;
// The cache is emptied when it reaches this many pieces, which bounds it to
// a few tens of MB whatever the input (the 50k most common English words fit).
constexpr size_t kMaxCachedPieces = size_t{1} << 18;

struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

}  // namespace

// Piece bytes -> token ids, shared by all threads that use one Tokenizer.
class Tokenizer::PieceCache {
 public:
  using Map = std::unordered_map<std::string, std::vector<int32_t>, TransparentStringHash,
                                 std::equal_to<>>;
  std::shared_mutex mutex;
  Map map;
};

Tokenizer::Tokenizer(Pretokenizer pretokenizer, std::vector<std::string> token_bytes,
                     std::array<int32_t, 256> byte_ids, BpeMerges merges, int32_t eot_id)
    : pretokenizer_(std::move(pretokenizer)),
      token_bytes_(std::move(token_bytes)),
      byte_ids_(byte_ids),
      merges_(std::move(merges)),
      eot_id_(eot_id),
      cache_(std::make_unique<PieceCache>()) {}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::EncodePiece(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.size() == 1) {  // a lone byte never merges
    out->push_back(byte_ids_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  std::vector<int32_t> symbols(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) symbols[i] = byte_ids_[static_cast<uint8_t>(piece[i])];
  merges_.Apply(&symbols);
  out->insert(out->end(), symbols.begin(), symbols.end());
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  // Pieces this call computed, inserted into the shared cache at the end so
  // that the shared lock is taken once per call, not once per piece.
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> fresh;  // piece -> [begin, end) in ids
  {
    std::shared_lock lock(cache_->mutex);
    const PieceCache::Map& cache = cache_->map;
    pretokenizer_.ForEachPiece(text, [&](std::string_view piece) {
      if (piece.size() == 1 || piece.size() > kMaxCachedPieceBytes) {
        EncodePiece(piece, &ids);
        return;
      }
      if (auto it = cache.find(piece); it != cache.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
      if (auto it = fresh.find(piece); it != fresh.end()) {
        const auto [begin, end] = it->second;
        for (size_t i = begin; i < end; ++i) ids.push_back(ids[i]);
        return;
      }
      const size_t begin = ids.size();
      EncodePiece(piece, &ids);
      fresh.emplace(piece, std::make_pair(begin, ids.size()));
    });
  }
  if (!fresh.empty()) {
    std::unique_lock lock(cache_->mutex);
    PieceCache::Map& cache = cache_->map;
    if (cache.size() + fresh.size() > kMaxCachedPieces) cache.clear();
    for (const auto& [piece, range] : fresh) {
      if (cache.size() >= kMaxCachedPieces) break;
      cache.try_emplace(std::string(piece), ids.begin() + range.first, ids.begin() + range.second);
    }
  }
  return ids;
}

std::vector<int32_t> Tokenizer::EncodeWithSpecialTokens(std::string_view text) const {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (true) {
    const size_t found = text.find(kEndOfText, start);
    const std::vector<int32_t> part =
        Encode(text.substr(start, found == std::string_view::npos ? text.npos : found - start));
    ids.insert(ids.end(), part.begin(), part.end());
    if (found == std::string_view::npos) break;
    ids.push_back(eot_id_);
    start = found + kEndOfText.size();
  }
  return ids;
}

Result<std::string> Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size()) {
      return Status::Error("decode: token id " + std::to_string(id) + " at position " +
                           std::to_string(i) + " is outside the vocabulary [0, " +
                           std::to_string(vocab_size()) + ")");
    }
    text += token_bytes_[id];
  }
  return text;
}

std::string_view Tokenizer::TokenText(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return token_bytes_[id];
}

void Tokenizer::ClearCache() const {
  std::unique_lock lock(cache_->mutex);
  cache_->map.clear();
}

}  // namespace gpt2q
