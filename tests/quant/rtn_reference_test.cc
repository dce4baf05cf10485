// rtn (GPTQ's quantizer into int-group, packed kernels) against the
// independent PyTorch reference, reference_calib.json, on both fixtures: the
// held-out text and windows of reference.json, scope no-lm-head; ppl within
// the row's relative `tolerance` and mean KLD against fp32 within 25%.
// One pass per fixture: every window runs the fp32 model once and each
// quantized model once (the cost of a full-text check is a few forward passes).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "eval/perplexity.h"
#include "kernels/blas.h"
#include "kernels/logsumexp.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"
#include "quant/quantize_model.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace gpt2q {
namespace {

const std::string kFixtures = std::string(GPT2Q_SHARED_DIR) + "/fixtures/";
const char* const kRows[] = {"rtn:bits=4,group=128", "rtn:bits=3,group=128", "rtn:bits=4,group=-1"};

struct RowResult {
  double nll_sum = 0, kld_sum = 0;
  int64_t tokens = 0;
};

void CheckFixture(const std::string& fixture) {
  SCOPED_TRACE(fixture);
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  const std::string dir = kFixtures + fixture;
  std::ifstream in(dir + "/reference_calib.json");
  ASSERT_TRUE(in.good()) << dir;
  const nlohmann::json ref = nlohmann::json::parse(in);
  const auto& eval = ref["settings"]["eval"];

  auto tokenizer = Tokenizer::Load(dir + "/vocab.json", dir + "/merges.txt");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  auto text = ReadTextFile(std::string(GPT2Q_DATA_DIR) + "/tinyshakespeare-heldout.txt");
  ASSERT_TRUE(text.ok()) << text.message();
  const std::vector<int32_t> tokens = tokenizer->Encode(*text);
  ASSERT_EQ(static_cast<int64_t>(tokens.size()), eval["tokens"].get<int64_t>());

  auto fp32_weights = LoadCheckpoint(dir);
  ASSERT_TRUE(fp32_weights.ok()) << fp32_weights.message();
  const GPT2 fp32(std::move(fp32_weights).value());
  std::vector<std::unique_ptr<GPT2>> models;
  for (const char* row : kRows) {
    auto weights = LoadCheckpoint(dir);
    ASSERT_TRUE(weights.ok()) << weights.message();
    auto spec = ParseQuantSpec(row);
    ASSERT_TRUE(spec.ok()) << spec.message();
    auto scope = MakeScope(ref["settings"]["scope"].get<std::string>(), {}, {}, weights->config.n_layer);
    ASSERT_TRUE(scope.ok()) << scope.message();
    auto report = QuantizeModel(*weights, *spec, *scope, QuantMode::kPacked, pool);
    ASSERT_TRUE(report.ok()) << report.message();
    ASSERT_EQ(report->tensors.size(), 4u * weights->config.n_layer);
    for (const TensorStats& t : report->tensors) ASSERT_EQ(t.format, "int-group") << t.name;
    models.push_back(std::make_unique<GPT2>(std::move(weights).value()));
  }

  const int64_t V = fp32.config().n_vocab;
  const std::vector<EvalWindow> windows =
      PlanWindows(static_cast<int64_t>(tokens.size()), eval["ctx"].get<int64_t>(), eval["stride"].get<int64_t>());
  std::vector<RowResult> results(models.size());
  double fp32_nll = 0;
  for (const EvalWindow& w : windows) {
    const int64_t len = w.length();
    AlignedBuffer base(len * V * sizeof(float)), quant(len * V * sizeof(float));
    KVCache cache(fp32.config(), 1, len);
    fp32.Forward(tokens.data() + w.begin, 1, len, cache, LogitsMode::kAll, base.as<float>(), pool);
    std::vector<double> lse_base(static_cast<size_t>(len));
    for (int64_t r = w.first_scored; r < len - 1; ++r) {
      lse_base[r] = LogSumExp(base.as<float>() + r * V, V);
      fp32_nll += lse_base[r] - base.as<float>()[r * V + tokens[w.begin + r + 1]];
    }
    for (size_t m = 0; m < models.size(); ++m) {
      KVCache qcache(models[m]->config(), 1, len);
      models[m]->Forward(tokens.data() + w.begin, 1, len, qcache, LogitsMode::kAll, quant.as<float>(), pool);
      for (int64_t r = w.first_scored; r < len - 1; ++r) {
        const float* x = base.as<float>() + r * V;
        const float* y = quant.as<float>() + r * V;
        const double lse_y = LogSumExp(y, V);
        results[m].nll_sum += lse_y - y[tokens[w.begin + r + 1]];
        results[m].kld_sum += KlDivergence(x, lse_base[r], y, lse_y, V);
        ++results[m].tokens;
      }
    }
  }
  const int64_t scored = ref["fp32"]["tokens_scored"].get<int64_t>();
  EXPECT_NEAR(std::exp(fp32_nll / double(scored)), ref["fp32"]["ppl"].get<double>(),
              1e-5 * ref["fp32"]["ppl"].get<double>());
  for (size_t m = 0; m < models.size(); ++m) {
    const auto& row = ref["rows"][kRows[m]];
    ASSERT_EQ(results[m].tokens, scored);
    const double ppl = std::exp(results[m].nll_sum / double(scored));
    const double kld = results[m].kld_sum / double(scored);
    const double want_ppl = row["ppl_full"].get<double>(), want_kld = row["kld"].get<double>();
    EXPECT_NEAR(ppl, want_ppl, row["tolerance"].get<double>() * want_ppl) << kRows[m];
    EXPECT_NEAR(kld, want_kld, 0.25 * want_kld) << kRows[m];
    std::printf("%s %s: ppl %.6f (reference %.6f, %+.2e relative), mean KLD %.6g (reference %.6g, %+.1f%%)\n",
                fixture.c_str(), kRows[m], ppl, want_ppl, ppl / want_ppl - 1, kld, want_kld,
                100 * (kld / want_kld - 1));
  }
}

TEST(RtnReferenceTest, TinyShakespeare) { CheckFixture("gpt2-tiny-shakespeare"); }

TEST(RtnReferenceTest, TinyShakespeareOutliers) { CheckFixture("gpt2-tiny-shakespeare-outliers"); }

}  // namespace
}  // namespace gpt2q
