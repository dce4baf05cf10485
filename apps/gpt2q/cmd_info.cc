// gpt2q info: a model's configuration, parameter count and stored bytes per format.
#include <map>

#include <fmt/core.h>

#include "commands.h"
#include "model/weights.h"

namespace gpt2q {
namespace {

struct InfoArgs {
  CommonOptions common;
  ModelOptions model;
};

Status RunInfo(const InfoArgs& args) {
  GPT2Q_ASSIGN_OR_RETURN(std::unique_ptr<ThreadPool> pool, MakePool(args.common));
  GPT2Q_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(args.model, *pool));
  ModelWeights& weights = loaded.model->mutable_weights();
  const GPT2Config& c = weights.config;

  struct Tally {
    int64_t tensors = 0, params = 0, bytes = 0;
  };
  std::map<std::string, Tally> per_format;
  nlohmann::json tensors = nlohmann::json::array();  // per matrix: name, format, [rows, cols], bytes
  ForEachMatrix(weights, [&](const std::string& name, ParamKind, std::shared_ptr<WeightMatrix>& m) {
    tensors.push_back({{"name", name}, {"format", m->format()}, {"shape", {m->rows(), m->cols()}},
                       {"bytes", m->StoredBytes()}});
    Tally& f = per_format[m->format()];
    ++f.tensors;
    f.params += m->rows() * m->cols();
    f.bytes += m->StoredBytes();
  });
  Tally vectors;
  ForEachVector(weights, [&](const std::string&, ParamKind, FloatSpan& span) {
    ++vectors.tensors;
    vectors.params += span.size;
    vectors.bytes += span.size * static_cast<int64_t>(sizeof(float));
  });
  int64_t total_bytes = vectors.bytes;
  for (const auto& [name, f] : per_format) total_bytes += f.bytes;
  const int64_t parameters = c.ParameterCount();

  // What a gpt2q quantized checkpoint records about itself; null for plain ones.
  nlohmann::json recorded;
  if (loaded.recorded) {
    recorded = {{"quant", loaded.recorded->quant}, {"scope", loaded.recorded->scope},
                {"mode", loaded.recorded->mode}};
  }

  if (args.common.json) {
    nlohmann::json formats = nlohmann::json::object();
    for (const auto& [name, f] : per_format) {
      formats[name] = {{"tensors", f.tensors}, {"parameters", f.params}, {"bytes", f.bytes}};
    }
    PrintJson({{"model", loaded.name},
               {"config",
                {{"n_vocab", c.n_vocab}, {"n_ctx", c.n_ctx}, {"n_embd", c.n_embd},
                 {"n_layer", c.n_layer}, {"n_head", c.n_head}, {"n_inner", c.n_inner},
                 {"layer_norm_epsilon", c.layer_norm_epsilon}, {"eos_token_id", c.eos_token_id}}},
               {"parameters", parameters},
               {"head_tied", weights.head_tied()},
               {"recorded_quant", recorded},
               {"matrices", formats},
               {"tensors", tensors},
               {"vectors", {{"tensors", vectors.tensors}, {"parameters", vectors.params},
                            {"bytes", vectors.bytes}, {"format", "fp32"}}},
               {"weights_bytes", total_bytes},
               {"fp32_bytes", parameters * 4},
               {"tokenizer_vocab", loaded.tokenizer->vocab_size()}});
    return OkStatus();
  }
  fmt::print("model        {}\n", loaded.name);
  fmt::print("config       n_vocab {}  n_ctx {}  n_embd {}  n_layer {}  n_head {}  n_inner {}  eps {}\n",
             c.n_vocab, c.n_ctx, c.n_embd, c.n_layer, c.n_head, c.n_inner, c.layer_norm_epsilon);
  fmt::print("parameters   {} ({:.1f} M)\n", parameters, parameters / 1e6);
  fmt::print("head         {}\n", weights.head_tied() ? "tied to wte" : "separate lm_head.weight");
  if (loaded.recorded) {
    fmt::print("quant        {} (scope {}, {} mode; recorded in the checkpoint)\n", loaded.recorded->quant,
               loaded.recorded->scope, loaded.recorded->mode);
  }
  fmt::print("tokenizer    {} tokens, eos {}\n", loaded.tokenizer->vocab_size(),
             loaded.tokenizer->eot_id());
  fmt::print("weights      {:<8} {:>8} {:>14} {:>14}\n", "format", "tensors", "parameters", "bytes");
  for (const auto& [name, f] : per_format) {
    fmt::print("             {:<8} {:>8} {:>14} {:>14}  ({})\n", name, f.tensors, f.params, f.bytes,
               FormatBytes(f.bytes));
  }
  if (loaded.recorded) {  // a quantized checkpoint (gpt2q's own, or hf-bnb): each matrix
    for (const nlohmann::json& t : tensors) {
      fmt::print("tensor       {:<24} {:<10} {:>6}x{:<6} {:>12} bytes\n", t["name"].get<std::string>(),
                 t["format"].get<std::string>(), t["shape"][0].get<int64_t>(), t["shape"][1].get<int64_t>(),
                 t["bytes"].get<int64_t>());
    }
  }
  fmt::print("             {:<8} {:>8} {:>14} {:>14}  ({}, biases/LayerNorms/wpe)\n", "fp32",
             vectors.tensors, vectors.params, vectors.bytes, FormatBytes(vectors.bytes));
  fmt::print("total        {} bytes ({}); fp32 would be {} bytes\n", total_bytes,
             FormatBytes(total_bytes), parameters * 4);
  return OkStatus();
}

}  // namespace

Command AddInfoCommand(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "show a model's config, parameter count and weight bytes");
  AddModelOptions(cmd, &args->model);
  AddCommonOptions(cmd, &args->common);
  return {cmd, [args] { return RunInfo(*args); }};
}

}  // namespace gpt2q
