// What every gpt2q subcommand shares: the options --json/--threads, finding the
// shipped data, loading a model (a folder or --synthetic) and its tokenizer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/gpt2.h"
#include "model/quantized_checkpoint.h"
#include "text/tokenizer.h"

namespace gpt2q {

// A registered subcommand and what runs when the user picks it.
struct Command {
  CLI::App* app = nullptr;
  std::function<Status()> run;
};

struct CommonOptions {
  bool json = false;
  int threads = ThreadPool::DefaultThreads();
};

// Adds --json and --threads to `cmd`.
void AddCommonOptions(CLI::App* cmd, CommonOptions* options);

// Returns a pool of options.threads threads; an error if threads < 1.
Result<std::unique_ptr<ThreadPool>> MakePool(const CommonOptions& options);

// The name of the model that ships with gpt2q, and its held-out text.
inline constexpr const char* kShippedModel = "gpt2-tiny-shakespeare";
inline constexpr const char* kShippedText = "tinyshakespeare-heldout.txt";
// Seed of the random weights of --synthetic models.
inline constexpr uint64_t kSyntheticSeed = 1234;

// Returns the folder holding the shipped model and text: $GPT2Q_DATA_DIR when
// set, otherwise the first `data` folder containing gpt2-tiny-shakespeare found
// walking up from the executable (/proc/self/exe).
Result<std::string> FindDataDir();

struct ModelOptions {
  std::string model;      // a Hugging Face folder or a .gguf file; empty = the shipped model
  std::string synthetic;  // gpt2, gpt2-medium, gpt2-large or gpt2-xl
  bool allow_nonfinite = false;  // load weights holding NaN/Inf (with a warning on stderr)
};

// Adds the positional MODEL, --synthetic NAME (mutually exclusive) and
// --allow-nonfinite (not with --synthetic) to `cmd`.
void AddModelOptions(CLI::App* cmd, ModelOptions* options);

struct LoadedModel {
  std::string name;  // the folder, or "synthetic:NAME"
  std::string dir;   // the folder the tokenizer came from (a .gguf: the file)
  std::string gguf;  // the .gguf file loaded; empty for a folder and --synthetic
  std::unique_ptr<GPT2> model;
  std::unique_ptr<Tokenizer> tokenizer;
  // What a gpt2q quantized checkpoint records about itself (method spec,
  // scope, mode); nullopt for a plain checkpoint and for --synthetic.
  std::optional<QuantizedCheckpointInfo> recorded;
  bool shipped = false;  // the shipped gpt2-tiny-shakespeare (no MODEL, no --synthetic)
};

// Returns the folder that `options` reads: the model folder, or the shipped
// model's (whose tokenizer --synthetic uses).
Result<std::string> ModelInputDir(const ModelOptions& options);

// Returns what an output must stay apart from (StagedOutputOptions::inputs):
// the folder of ModelInputDir and its four files, whose symlinks (a Hugging
// Face cache snapshot links to its blobs) may lead elsewhere.
Result<std::vector<std::string>> ModelInputPaths(const ModelOptions& options);

// Loads the model of `options` (the shipped one when none is named) and the
// tokenizer of its folder (the shipped tokenizer for --synthetic). With
// allow_nonfinite, weights holding NaN/Inf load and one warning line naming
// them goes to stderr.
Result<LoadedModel> LoadModel(const ModelOptions& options, ThreadPool& pool);

// Loads vocab.json and merges.txt of `dir` (the shipped model's when empty).
Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir);

// Returns the path of the shipped held-out text.
Result<std::string> ShippedTextPath();

// Writes `value` to stdout as indented JSON and a newline.
void PrintJson(const nlohmann::json& value);

// Returns "123.4 MiB"-style text for a byte count.
std::string FormatBytes(int64_t bytes);

}  // namespace gpt2q
