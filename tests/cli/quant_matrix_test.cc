// `gpt2q perplexity --quant SPEC --scope S --kld` for every method and scope on
// the shipped model, once each on a short text.
#include <gtest/gtest.h>

#include <cmath>

#include "cli_runner.h"
#include "quant/quant_spec.h"

namespace gpt2q {
namespace {

TEST(QuantMatrix, EveryMethodAndScopeRunsWithKld) {
  for (const MethodInfo& method : MethodTable()) {
    for (std::string_view scope : ScopePresets()) {
      if (scope == "none" || method.name == "fp32") continue;
      const std::string args = "perplexity --quant " + std::string(method.name) + " --scope " + std::string(scope) +
                               (scope == "all-params" ? " --mode simulate" : "") +
                               // Calibrated methods on a few short windows: this test checks that
                               // every method and scope runs, not their quality.
                               (method.calibrate != nullptr ? " --calib-samples 8 --calib-len 64" : "") +
                               " --kld --ctx 64 --stride 32 --max-tokens 200 --json";
      RunResult r = RunGpt2q(args);
      ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.err;
      nlohmann::json j = nlohmann::json::parse(r.out);
      const double ppl = j["ppl"].get<double>();
      EXPECT_TRUE(std::isfinite(ppl) && ppl > 1.0) << args;
      EXPECT_GE(j["kl"]["kld_mean"].get<double>(), 0.0) << args;
      EXPECT_LE(j["kl"]["top1_agree"].get<double>(), 1.0) << args;
      EXPECT_EQ(j["kl"]["tokens"].get<int64_t>(), 199) << args;
      EXPECT_EQ(j["scope"].get<std::string>(), std::string(scope)) << args;
      EXPECT_GT(j["weights_bytes"].get<int64_t>(), 0) << args;
    }
  }
}

}  // namespace
}  // namespace gpt2q
