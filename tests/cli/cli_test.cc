// End-to-end tests of the gpt2q binary: every subcommand's output and exit
// code, --json output that parses, and clean errors for bad input and flags.
#include <gtest/gtest.h>

#include "../io/bad_inputs.h"
#include "../sanitizers.h"
#include "cli_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace gpt2q {
namespace {

namespace fs = std::filesystem;

const std::string kModelDir = std::string(GPT2Q_DATA_DIR) + "/gpt2-tiny-shakespeare";

TEST(CliTest, InfoDescribesTheShippedModel) {
  nlohmann::json j = ParseJson(RunGpt2q("info --json"));
  EXPECT_EQ(j["config"]["n_layer"], 4);
  EXPECT_EQ(j["config"]["n_embd"], 128);
  EXPECT_EQ(j["config"]["n_ctx"], 256);
  EXPECT_EQ(j["head_tied"], true);
  EXPECT_EQ(j["parameters"].get<int64_t>() * 4, j["fp32_bytes"].get<int64_t>());
  EXPECT_EQ(j["weights_bytes"], j["fp32_bytes"]);  // the shipped model is fp32
  RunResult text = RunGpt2q("info '" + kModelDir + "'");
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("parameters"), std::string::npos);
  EXPECT_NE(text.out.find("tied"), std::string::npos);
}

TEST(CliTest, TokenizeAndDecode) {
  nlohmann::json j = ParseJson(RunGpt2q("tokenize --json 'Hello, world!'"));
  EXPECT_EQ(j["ids"], nlohmann::json({15496, 11, 995, 0}));
  EXPECT_EQ(j["count"], 4);
  j = ParseJson(RunGpt2q("tokenize --decode --json '15496, 11, 995, 0'"));
  EXPECT_EQ(j["text"], "Hello, world!");
  RunResult plain = RunGpt2q("tokenize --model '" + kModelDir + "' 'Hello world'");
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.substr(0, 10), "15496 995\n");
  EXPECT_EQ(RunGpt2q("tokenize --decode 'not ids'").exit_code, 1);
  EXPECT_EQ(RunGpt2q("tokenize --decode 99999999").exit_code, 1);
}

TEST(CliTest, PerplexityJson) {
  nlohmann::json j = ParseJson(RunGpt2q("perplexity --json --max-tokens 2000"));
  EXPECT_EQ(j["tokens"], 2000);
  EXPECT_EQ(j["tokens_scored"], 1999);
  EXPECT_EQ(j["ctx"], 256);
  EXPECT_EQ(j["stride"], 128);
  const double ppl = j["ppl"].get<double>();
  EXPECT_GT(ppl, 1.0);
  EXPECT_LT(ppl, 1000.0);
  EXPECT_NEAR(std::log(ppl), j["loss"].get<double>(), 1e-9);
  EXPECT_GT(j["ppl_stderr"].get<double>(), 0.0);
  EXPECT_GT(j["peak_forward_bytes"]["rss"].get<int64_t>(), 0);
}

TEST(CliTest, GenerateIsReproducibleAndGreedyMatchesReference) {
  RunResult a = RunGpt2q("generate --seed 1 --json");
  RunResult b = RunGpt2q("generate --seed 1 --json");
  nlohmann::json ja = ParseJson(a), jb = ParseJson(b);
  EXPECT_EQ(ja["text"], jb["text"]);
  EXPECT_EQ(ja["ids"], jb["ids"]);
  EXPECT_EQ(ja["text"].get<std::string>().rfind("ROMEO:", 0), 0u);
  EXPECT_LE(ja["ids"].size(), 50u);

  std::ifstream in(kModelDir + "/reference.json");
  const nlohmann::json greedy = nlohmann::json::parse(in)["greedy"];
  nlohmann::json g =
      ParseJson(RunGpt2q("generate --greedy --max-length 43 --prompt 'ROMEO:' --self-ppl --json"));
  EXPECT_EQ(g["ids"], greedy["ids"]);
  EXPECT_EQ(g["text"], greedy["text"]);
  // Greedy text is the model's own most likely continuation: low but >= 1.
  EXPECT_GE(g["self_ppl"].get<double>(), 1.0);
  EXPECT_LT(g["self_ppl"].get<double>(), 50.0);

  RunResult plain = RunGpt2q("generate --greedy --max-new-tokens 5");
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.rfind("ROMEO:", 0), 0u);
}

TEST(CliTest, BadFlagsAreUsageErrors) {
  RunResult r = RunGpt2q("info --no-such-flag");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("gpt2q: error: ", 0), 0u) << r.err;
  EXPECT_EQ(RunGpt2q("").exit_code, 2);
  EXPECT_EQ(RunGpt2q("perplexity --ctx abc").exit_code, 2);
  EXPECT_EQ(RunGpt2q("generate --greedy --top-k 5").exit_code, 2);
  RunResult help = RunGpt2q("perplexity --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--batch INT=1"), std::string::npos) << help.out;
}

TEST(CliTest, BadValuesAreErrors) {
  RunResult r = RunGpt2q("perplexity --ctx 0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("gpt2q: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("ctx"), std::string::npos);
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(RunGpt2q("perplexity --stride 0 --max-tokens 100").exit_code, 1);
  EXPECT_EQ(RunGpt2q("perplexity --ctx 100000").exit_code, 1);
  EXPECT_EQ(RunGpt2q("generate --temperature 0").exit_code, 1);
  EXPECT_EQ(RunGpt2q("generate --top-p 1.5").exit_code, 1);
  EXPECT_EQ(RunGpt2q("generate --max-length 100000").exit_code, 1);
  EXPECT_EQ(RunGpt2q("info --threads 0").exit_code, 1);
  EXPECT_EQ(RunGpt2q("bench --what nothing").exit_code, 1);
  EXPECT_EQ(RunGpt2q("info --synthetic gpt3").exit_code, 1);
  EXPECT_EQ(RunGpt2q("perplexity --text /nonexistent/file.txt").exit_code, 1);
}

// bench's JSON: one row per method (fp32 first), every phase asked for timed.
TEST(CliTest, BenchTimesEveryMethodAskedFor) {
  nlohmann::json j = ParseJson(RunGpt2q(
      "bench --what prefill,decode --tokens 64 --logits last --decode-tokens 8 --repeat 2 --quant q8_0 --json"));
  EXPECT_EQ(j["prefill_logits"], "last");
  EXPECT_EQ(j["prefill_tokens"], 64);
  ASSERT_EQ(j["methods"].size(), 2u);
  EXPECT_EQ(j["methods"][0]["quant"], "fp32");
  EXPECT_EQ(j["methods"][1]["quant"], "q8_0");
  for (const auto& m : j["methods"]) {
    EXPECT_EQ(m["prefill_runs"].size(), 2u);
    EXPECT_EQ(m["decode_runs"].size(), 2u);
    EXPECT_GT(m["prefill_tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(m["decode_tokens_per_s"].get<double>(), 0.0);
  }
  EXPECT_LT(j["methods"][1]["weights_bytes"].get<int64_t>(), j["methods"][0]["weights_bytes"].get<int64_t>());
  // Prefill's fp32-equivalent arithmetic against the multiply-add peak, and
  // decode's traffic against the read bandwidth, both measured in the same run.
  EXPECT_GT(j["fp32_fma_peak_gflop_per_s"].get<double>(), 0.0);
  EXPECT_EQ(j["fp32_fma_peak_runs"].size(), 2u);
  EXPECT_GT(j["read_bandwidth_gb_per_s"].get<double>(), 0.0);
  EXPECT_EQ(j["read_bandwidth_runs"].size(), 2u);
  for (const auto& m : j["methods"]) {
    EXPECT_NEAR(m["prefill_gflop_per_s"].get<double>(),
                m["prefill_tokens_per_s"].get<double>() * j["prefill_flops_per_token"].get<double>() / 1e9, 1e-9);
    EXPECT_GT(m["prefill_vs_fp32_peak"].get<double>(), 0.0);
    EXPECT_NEAR(m["decode_gb_per_s"].get<double>(),
                m["decode_tokens_per_s"].get<double>() * m["decode_bytes_per_token"].get<double>() / 1e9, 1e-9);
    EXPECT_GT(m["decode_vs_bandwidth"].get<double>(), 0.0);
  }
  EXPECT_LT(j["methods"][1]["decode_bytes_per_token"].get<double>(), j["methods"][0]["decode_bytes_per_token"].get<double>());
  // Each method's own peak RSS: the quantized model gave its fp32 weights back
  // (not under ASan, whose quarantine keeps freed memory resident).
  if (!j["methods"][0]["peak_rss_bytes"].is_null() && !kUnderAddressSanitizer) {
    EXPECT_LT(j["methods"][1]["peak_rss_bytes"].get<int64_t>(), j["methods"][0]["peak_rss_bytes"].get<int64_t>());
    EXPECT_GE(j["peak_rss_bytes"].get<int64_t>(), j["methods"][0]["peak_rss_bytes"].get<int64_t>());
  }
  EXPECT_EQ(RunGpt2q("bench --what prefill --logits some").exit_code, 1);
  EXPECT_EQ(RunGpt2q("bench --what prefill --max-resident -1").exit_code, 1);
}

// Repeats run round-robin over a group of models held at once, fp32 in every
// group: with --max-resident 0 each quantized model is a group of its own, so
// fp32 is timed beside each (twice the runs), every method its --repeat.
TEST(CliTest, BenchTimesFp32InEveryGroup) {
  nlohmann::json j = ParseJson(RunGpt2q("bench --what prefill --tokens 32 --repeat 2 --quant q8_0 --quant nf4 "
                                        "--max-resident 0 --json"));
  ASSERT_EQ(j["methods"].size(), 3u);
  EXPECT_EQ(j["methods"][0]["prefill_runs"].size(), 4u);
  EXPECT_EQ(j["methods"][1]["prefill_runs"].size(), 2u);
  EXPECT_EQ(j["methods"][2]["prefill_runs"].size(), 2u);
  EXPECT_TRUE(j.contains("interleaved"));
  nlohmann::json held = ParseJson(RunGpt2q("bench --what prefill --tokens 32 --repeat 2 --quant q8_0 --quant nf4 --json"));
  EXPECT_EQ(held["methods"][0]["prefill_runs"].size(), 2u);  // one group: all three in one rotation
}

// Writes a copy of the shipped model into a fresh folder and returns it.
fs::path CopyModel(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("gpt2q_cli_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* file : {"config.json", "model.safetensors", "vocab.json", "merges.txt"}) {
    fs::copy_file(fs::path(kModelDir) / file, dir / file);
  }
  return dir;
}

TEST(CliTest, BrokenModelFoldersAreCleanErrors) {
  RunResult missing = RunGpt2q("info /nonexistent/model");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent/model"), std::string::npos) << missing.err;

  struct Case {
    std::string name, file, content, fragment;
  };
  const Case cases[] = {
      {"badjson", "config.json", "{ not json", "config.json"},
      {"truncated", "model.safetensors", "\x10\x00\x00", "model.safetensors"},
      {"badmerges", "merges.txt", "#version: 0.2\nonlyone\n", "merges.txt"},
  };
  for (const Case& c : cases) {
    const fs::path dir = CopyModel(c.name);
    std::ofstream(dir / c.file, std::ios::binary | std::ios::trunc) << c.content;
    RunResult r = RunGpt2q("info '" + dir.string() + "'");
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.err;
    EXPECT_EQ(r.err.rfind("gpt2q: error: ", 0), 0u) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.name << ": " << r.err;
    fs::remove_all(dir);
  }
}

// Every malformed checkpoint of tests/io/bad_inputs.h: exit code 1 and the
// loader's message, from the command line.
TEST(CliTest, EveryBadCheckpointExitsWithItsMessage) {
  for (const testing::BadInput& bad : testing::BadInputs()) {
    const fs::path dir = fs::temp_directory_path() / ("gpt2q_bad_" + std::to_string(getpid()) + "_" + bad.name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string fragment = bad.write(dir.string());
    RunResult r = RunGpt2q("info '" + dir.string() + "'");
    EXPECT_EQ(r.exit_code, 1) << bad.name << "\n" << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << bad.name << ": " << r.err;
    EXPECT_EQ(r.err.rfind("gpt2q: error: ", 0), 0u) << bad.name;
    fs::remove_all(dir);
  }
}

// vocab.json and merges.txt that disagree (an empty or cut merges.txt, a
// vocabulary without a merge's result): exit code 1 and the tokenizer's message.
TEST(CliTest, EveryBadTokenizerFolderExitsWithItsMessage) {
  for (const testing::BadInput& bad : testing::BadTokenizerInputs()) {
    const fs::path dir = fs::temp_directory_path() / ("gpt2q_badtok_" + std::to_string(getpid()) + "_" + bad.name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string fragment = bad.write(dir.string());
    RunResult r = RunGpt2q("info '" + dir.string() + "'");
    EXPECT_EQ(r.exit_code, 1) << bad.name << "\n" << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << bad.name << ": " << r.err;
    EXPECT_EQ(r.err.rfind("gpt2q: error: ", 0), 0u) << bad.name;
    fs::remove_all(dir);
  }
}

// --allow-nonfinite loads weights holding NaN/Inf, with one warning line on
// stderr naming them; --json stdout stays pure JSON.
TEST(CliTest, AllowNonfiniteLoadsBrokenWeightsWithAWarning) {
  for (const char* name : {"nan_and_inf_in_f32_weight", "nan_in_nf4_absmax"}) {
    SCOPED_TRACE(name);
    const fs::path dir = fs::temp_directory_path() / ("gpt2q_nonfinite_" + std::to_string(getpid()) + "_" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const testing::BadInput& bad : testing::BadInputs()) {
      if (bad.name == name) bad.write(dir.string());
    }
    const std::string tensor = std::string(name) == "nan_in_nf4_absmax"
                                   ? "h.0.mlp.c_fc.weight.absmax (1 of 4, first at 2)"
                                   : "transformer.h.0.mlp.c_fc.weight (2 of 256, first at 5)";
    RunResult refused = RunGpt2q("info '" + dir.string() + "'");
    EXPECT_EQ(refused.exit_code, 1) << refused.err;
    EXPECT_NE(refused.err.find("non-finite"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--allow-nonfinite"), std::string::npos) << refused.err;
    RunResult allowed = RunGpt2q("info '" + dir.string() + "' --allow-nonfinite");
    EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
    EXPECT_EQ(allowed.err.rfind("warning: ", 0), 0u) << allowed.err;
    EXPECT_NE(allowed.err.find(tensor), std::string::npos) << allowed.err;
    EXPECT_EQ(std::count(allowed.err.begin(), allowed.err.end(), '\n'), 1) << allowed.err;
    RunResult json = RunGpt2q("info '" + dir.string() + "' --allow-nonfinite --json");
    nlohmann::json j = ParseJson(json);
    EXPECT_EQ(j["config"]["n_embd"], 8);
    EXPECT_NE(json.err.find(tensor), std::string::npos) << json.err;
    EXPECT_EQ(json.out.find("warning"), std::string::npos) << json.out;
    fs::remove_all(dir);
  }
  // Synthetic weights are finite by construction: the flag has nothing to allow there.
  RunResult r = RunGpt2q("info --synthetic gpt2 --allow-nonfinite");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--allow-nonfinite"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gpt2q
