// The BPE merge loop: a heap-driven version and encoder.py's reference loop.
#include "text/bpe.h"

#include <algorithm>
#include <limits>

namespace gpt2q {

bool BpeMerges::Add(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  return table_.emplace(Key(left, right), Merge{rank, merged}).second;
}

void BpeMerges::ApplyReference(std::vector<int32_t>* symbols) const {
  std::vector<int32_t>& word = *symbols;
  std::vector<int32_t> out;
  while (word.size() > 1) {
    const Merge* best = nullptr;
    int32_t best_left = 0, best_right = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      const Merge* m = Find(word[i], word[i + 1]);
      if (m != nullptr && (best == nullptr || m->rank < best->rank)) {
        best = m;
        best_left = word[i];
        best_right = word[i + 1];
      }
    }
    if (best == nullptr) break;
    out.clear();
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == best_left && word[i + 1] == best_right) {
        out.push_back(best->merged);
        i += 2;
      } else {
        out.push_back(word[i]);
        i += 1;
      }
    }
    word.swap(out);
  }
}

namespace {

// One candidate merge: symbols `left` and its right neighbour, holding ids
// `left_id` and `right_id` when pushed. Stale once either has changed.
struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t left_id;
  int32_t right_id;
  int32_t merged;
};

// Orders the heap by rank, then leftmost first (std heaps are max-heaps).
struct LaterFirst {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

}  // namespace

void BpeMerges::Apply(std::vector<int32_t>* symbols) const {
  const int32_t n = static_cast<int32_t>(symbols->size());
  if (n < 2) return;
  std::vector<int32_t>& id = *symbols;  // id[i] == -1: merged into a left neighbour
  std::vector<int32_t> next(n), prev(n);
  for (int32_t i = 0; i < n; ++i) {
    next[i] = i + 1;  // n: no right neighbour
    prev[i] = i - 1;
  }
  std::vector<Candidate> heap;
  auto push_pair = [&](int32_t left) {
    const int32_t right = next[left];
    if (right >= n) return;
    if (const Merge* m = Find(id[left], id[right])) {
      heap.push_back({m->rank, left, id[left], id[right], m->merged});
      std::push_heap(heap.begin(), heap.end(), LaterFirst());
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);

  std::vector<int32_t> touched;  // symbols whose right pair changed in this round
  while (!heap.empty()) {
    // One round of encoder.py: every occurrence of the lowest-rank pair, left
    // to right. New pairs join the heap only after the round, because
    // encoder.py rescans for the next best pair only after the whole pass.
    const int32_t rank = heap.front().rank;
    touched.clear();
    while (!heap.empty() && heap.front().rank == rank) {
      std::pop_heap(heap.begin(), heap.end(), LaterFirst());
      const Candidate c = heap.back();
      heap.pop_back();
      const int32_t right = next[c.left];
      if (id[c.left] != c.left_id || right >= n || id[right] != c.right_id) continue;  // stale
      id[c.left] = c.merged;
      id[right] = -1;
      next[c.left] = next[right];
      if (next[right] < n) prev[next[right]] = c.left;
      if (prev[c.left] >= 0) touched.push_back(prev[c.left]);
      touched.push_back(c.left);
    }
    for (int32_t left : touched) {
      if (id[left] >= 0) push_pair(left);
    }
  }
  int32_t out = 0;
  for (int32_t i = 0; i < n; i = next[i]) id[out++] = id[i];
  id.resize(out);
}

}  // namespace gpt2q
