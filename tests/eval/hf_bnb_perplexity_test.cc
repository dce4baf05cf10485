// The independent transformers + bitsandbytes fixtures (shared/fixtures/hf-bnb):
// gpt2q loads each folder as stored and reproduces the perplexity its
// reference.json gives (1e-4 relative for 4-bit, 1e-3 for 8-bit, whose
// activations are quantized per token).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/perplexity.h"
#include "kernels/blas.h"
#include "model/checkpoint.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

const std::string kFixtures = std::string(GPT2Q_SHARED_DIR) + "/fixtures/hf-bnb/";
// The fixtures score ../corpora/tinyshakespeare.txt[1003788:], which is this file.
const std::string kText = std::string(GPT2Q_DATA_DIR) + "/tinyshakespeare-heldout.txt";

void ExpectReferencePerplexity(const std::string& name, double tolerance) {
  SCOPED_TRACE(name);
  UseSingleThreadedBlas();
  const std::string dir = kFixtures + name;
  std::ifstream in(dir + "/reference.json");
  ASSERT_TRUE(in) << dir;
  const nlohmann::json reference = nlohmann::json::parse(in);
  auto weights = LoadCheckpoint(dir);
  ASSERT_TRUE(weights.ok()) << weights.message();
  GPT2 model(std::move(weights).value());
  auto tokenizer = Tokenizer::Load(dir + "/vocab.json", dir + "/merges.txt");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  auto text = ReadTextFile(kText);
  ASSERT_TRUE(text.ok()) << text.message();
  ThreadPool pool(2);
  PerplexityOptions options;
  options.ctx = reference["ctx"].get<int64_t>();
  options.stride = reference["stride"].get<int64_t>();
  auto result = EvaluatePerplexity(model, tokenizer->Encode(*text), options, pool);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(result->tokens_scored, reference["tokens_scored"].get<int64_t>());
  const double ppl = reference["ppl"].get<double>();
  EXPECT_NEAR(result->ppl, ppl, tolerance * ppl) << "relative error " << (result->ppl - ppl) / ppl;
}

TEST(HfBnbPerplexityTest, Int8FolderMatchesReference) {
  ExpectReferencePerplexity("gpt2-tiny-shakespeare-bnb-int8", 1e-3);
}

TEST(HfBnbPerplexityTest, Nf4FolderMatchesReference) {
  ExpectReferencePerplexity("gpt2-tiny-shakespeare-bnb-nf4", 1e-4);
}

TEST(HfBnbPerplexityTest, Nf4DoubleQuantFolderMatchesReference) {
  ExpectReferencePerplexity("gpt2-tiny-shakespeare-bnb-nf4-dq", 1e-4);
}

}  // namespace
}  // namespace gpt2q
