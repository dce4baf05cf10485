// Byte-pair merging: the merge table of merges.txt applied to one piece.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace gpt2q {

// The merge rules of a byte-level BPE vocabulary, as token ids: the pair
// (left, right) merges into `merged`, and lower ranks merge first. The rank
// is the line's position in merges.txt.
class BpeMerges {
 public:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };

  // Adds a rule. Returns false (and keeps the first rule) if the pair
  // already has one.
  bool Add(int32_t left, int32_t right, int32_t rank, int32_t merged);

  // Returns the rule for (left, right), or nullptr if the pair never merges.
  const Merge* Find(int32_t left, int32_t right) const {
    auto it = table_.find(Key(left, right));
    return it == table_.end() ? nullptr : &it->second;
  }

  size_t size() const { return table_.size(); }

  // Merges `symbols` (token ids, initially one per byte) in place exactly as
  // OpenAI's encoder.py bpe(): while some adjacent pair has a rule, take the
  // pair of lowest rank and merge all its occurrences, scanning left to right
  // without overlap. O(n log n) in the number of symbols, with a heap.
  void Apply(std::vector<int32_t>* symbols) const;

  // The same result as Apply by encoder.py's own O(n^2) loop; kept as the
  // readable reference that Apply is tested against.
  void ApplyReference(std::vector<int32_t>* symbols) const;

 private:
  static uint64_t Key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  struct KeyHash {
    size_t operator()(uint64_t key) const {
      // Fibonacci hashing mixes the two ids into the high bits.
      return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 16);
    }
  };

  std::unordered_map<uint64_t, Merge, KeyHash> table_;
};

}  // namespace gpt2q
