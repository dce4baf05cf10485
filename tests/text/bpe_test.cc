// BpeMerges: the heap merge loop against encoder.py's reference loop.
#include "text/bpe.h"

#include <gtest/gtest.h>

#include <random>

#include "text/tokenizer.h"

namespace gpt2q {
namespace {

TEST(BpeTest, MergesAllOccurrencesLeftToRightWithoutOverlap) {
  BpeMerges merges;
  ASSERT_TRUE(merges.Add(1, 1, 0, 10));  // a a -> A
  std::vector<int32_t> word = {1, 1, 1};
  merges.Apply(&word);
  EXPECT_EQ(word, (std::vector<int32_t>{10, 1}));
  word = {1, 1, 1, 1, 1};
  merges.Apply(&word);
  EXPECT_EQ(word, (std::vector<int32_t>{10, 10, 1}));
  EXPECT_FALSE(merges.Add(1, 1, 5, 11));
  EXPECT_EQ(merges.Find(1, 1)->rank, 0);
}

TEST(BpeTest, FinishesARoundBeforeLowerRankPairsItCreates) {
  // (x, AB) ranks before (a, b), which encoder.py still merges everywhere first.
  BpeMerges merges;
  ASSERT_TRUE(merges.Add(3, 20, 0, 30));  // x AB -> xAB
  ASSERT_TRUE(merges.Add(1, 2, 1, 20));   // a b -> AB
  ASSERT_TRUE(merges.Add(20, 1, 2, 40));  // AB a
  for (std::vector<int32_t> word :
       {std::vector<int32_t>{3, 1, 2, 1, 2}, {1, 2, 1, 2, 3, 1, 2}, {3, 1, 2, 3, 1, 2, 1}}) {
    std::vector<int32_t> fast = word, reference = word;
    merges.Apply(&fast);
    merges.ApplyReference(&reference);
    EXPECT_EQ(fast, reference);
  }
}

TEST(BpeTest, HeapLoopMatchesReferenceOnRandomRules) {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 50; ++trial) {
    BpeMerges merges;
    for (int rank = 0; rank < 40; ++rank) {
      merges.Add(static_cast<int32_t>(rng() % 12), static_cast<int32_t>(rng() % 12), rank,
                 static_cast<int32_t>(rng() % 12));  // results may feed back in
    }
    for (int w = 0; w < 20; ++w) {
      std::vector<int32_t> word(1 + rng() % 30);
      for (auto& s : word) s = static_cast<int32_t>(rng() % 5);
      std::vector<int32_t> fast = word, reference = word;
      merges.Apply(&fast);
      merges.ApplyReference(&reference);
      ASSERT_EQ(fast, reference) << "trial " << trial << " word " << w;
    }
  }
}

}  // namespace
}  // namespace gpt2q
