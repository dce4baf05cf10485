// GPT2Config: config.json parsing and validation, presets, serialisation.
#include "model/config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace gpt2q {
namespace {

constexpr size_t kMaxConfigBytes = 16 << 20;

// Reads integer key `key` into *out; `required` keys must be present.
Status ReadInt(const nlohmann::json& j, const std::string& path, const char* key, int64_t lo,
               int64_t hi, bool required, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) return Status::Error(path + ": missing key '" + std::string(key) + "'");
    return OkStatus();
  }
  if (!it->is_number_integer()) {
    return Status::Error(path + ": key '" + std::string(key) + "': expected an integer, got " +
                         it->dump());
  }
  // nlohmann stores non-negative literals as unsigned, negative ones as signed.
  bool in_range = it->is_number_unsigned()
                      ? it->get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                            static_cast<int64_t>(it->get<uint64_t>()) >= lo
                      : it->get<int64_t>() >= lo && it->get<int64_t>() <= hi;
  if (!in_range) {
    return Status::Error(path + ": key '" + std::string(key) + "': expected an integer in [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "], got " + it->dump());
  }
  *out = it->get<int64_t>();
  return OkStatus();
}

Result<GPT2Config> ParseConfigText(const std::string& path, const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error(path + ": not valid JSON");
  if (!j.is_object()) {
    return Status::Error(path + ": expected a JSON object, got " + std::string(j.type_name()));
  }
  if (auto it = j.find("model_type"); it != j.end()) {
    if (!it->is_string() || it->get<std::string>() != "gpt2") {
      return Status::Error(path + ": key 'model_type': expected \"gpt2\", got " + it->dump() +
                           " (not a GPT-2 model)");
    }
  }
  if (auto it = j.find("activation_function"); it != j.end()) {
    std::string act = it->is_string() ? it->get<std::string>() : "";
    if (act != "gelu_new" && act != "gelu_pytorch_tanh") {
      return Status::Error(path + ": key 'activation_function': expected \"gelu_new\" or "
                           "\"gelu_pytorch_tanh\", got " + it->dump());
    }
  }
  GPT2Config c;
  GPT2Q_RETURN_IF_ERROR(ReadInt(j, path, "vocab_size", 1, kMaxVocab, true, &c.n_vocab));
  bool has_positions = j.contains("n_positions");
  GPT2Q_RETURN_IF_ERROR(ReadInt(j, path, has_positions ? "n_positions" : "n_ctx", 1, kMaxCtx,
                                true, &c.n_ctx));
  GPT2Q_RETURN_IF_ERROR(ReadInt(j, path, "n_embd", 1, kMaxEmbd, true, &c.n_embd));
  GPT2Q_RETURN_IF_ERROR(ReadInt(j, path, "n_layer", 1, kMaxLayer, true, &c.n_layer));
  GPT2Q_RETURN_IF_ERROR(ReadInt(j, path, "n_head", 1, kMaxEmbd, true, &c.n_head));
  if (c.n_embd % c.n_head != 0) {
    return Status::Error(path + ": n_embd (" + std::to_string(c.n_embd) +
                         ") must be divisible by n_head (" + std::to_string(c.n_head) + ")");
  }
  c.n_inner = 4 * c.n_embd;
  if (auto it = j.find("n_inner"); it != j.end() && !it->is_null()) {
    GPT2Q_RETURN_IF_ERROR(ReadInt(j, path, "n_inner", 1, kMaxInner, true, &c.n_inner));
  }
  if (auto it = j.find("layer_norm_epsilon"); it != j.end()) {
    double eps = it->is_number() ? it->get<double>() : -1.0;
    if (!(eps > 0.0 && eps < 1.0)) {
      return Status::Error(path + ": key 'layer_norm_epsilon': expected a number in (0, 1), got " +
                           it->dump());
    }
    c.layer_norm_epsilon = static_cast<float>(eps);
  }
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    int64_t eos = 0;
    GPT2Q_RETURN_IF_ERROR(ReadInt(j, path, "eos_token_id", 0, c.n_vocab - 1, true, &eos));
    c.eos_token_id = static_cast<int32_t>(eos);
  } else if (c.eos_token_id >= c.n_vocab) {
    c.eos_token_id = static_cast<int32_t>(c.n_vocab - 1);
  }
  return c;
}

}  // namespace

int64_t GPT2Config::ParameterCount() const {
  int64_t per_block = 2 * n_embd + (n_embd * 3 * n_embd + 3 * n_embd) +
                      (n_embd * n_embd + n_embd) + 2 * n_embd + (n_embd * n_inner + n_inner) +
                      (n_inner * n_embd + n_embd);
  return n_vocab * n_embd + n_ctx * n_embd + n_layer * per_block + 2 * n_embd;
}

double GPT2Config::ForwardFlops(int64_t n_tokens, bool all_logits) const {
  const double T = double(n_tokens), C = double(n_embd);
  const double linear = 2 * T * (C * 3 * C + C * C + 2 * C * double(n_inner));
  const double attention = 2 * 2 * C * T * (T + 1) / 2;  // position t attends over t + 1 keys
  const double head = 2 * (all_logits ? T : 1) * double(n_vocab) * C;
  return double(n_layer) * (linear + attention) + head;
}

Result<GPT2Config> ParseConfigJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot open config.json");
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return Status::Error(path + ": config is larger than " + std::to_string(kMaxConfigBytes) +
                           " bytes");
    }
  }
  return ParseConfigText(path, text);
}

Result<GPT2Config> ParseConfigJsonText(const std::string& path, const std::string& text) {
  return ParseConfigText(path, text);
}

Result<GPT2Config> PresetConfig(const std::string& name) {
  struct Preset {
    const char* name;
    int64_t n_embd, n_layer, n_head;
  };
  static constexpr Preset kPresets[] = {{"gpt2", 768, 12, 12},
                                        {"gpt2-medium", 1024, 24, 16},
                                        {"gpt2-large", 1280, 36, 20},
                                        {"gpt2-xl", 1600, 48, 25}};
  for (const Preset& p : kPresets) {
    if (name == p.name) {
      GPT2Config c;
      c.n_vocab = 50257;
      c.n_ctx = 1024;
      c.n_embd = p.n_embd;
      c.n_layer = p.n_layer;
      c.n_head = p.n_head;
      c.n_inner = 4 * p.n_embd;
      return c;
    }
  }
  return Status::Error("unknown preset '" + name +
                       "': expected one of gpt2, gpt2-medium, gpt2-large, gpt2-xl");
}

std::string ConfigToJson(const GPT2Config& config) {
  // The shortest decimal that reads back as the same float (1e-05, not 9.99e-06).
  char eps_text[32];
  auto [end, ec] = std::to_chars(eps_text, eps_text + sizeof eps_text, config.layer_norm_epsilon);
  double eps = ec == std::errc() ? std::strtod(std::string(eps_text, end).c_str(), nullptr)
                                 : static_cast<double>(config.layer_norm_epsilon);
  nlohmann::ordered_json j;
  j["architectures"] = {"GPT2LMHeadModel"};
  j["model_type"] = "gpt2";
  j["activation_function"] = "gelu_new";
  j["vocab_size"] = config.n_vocab;
  j["n_positions"] = config.n_ctx;
  j["n_ctx"] = config.n_ctx;
  j["n_embd"] = config.n_embd;
  j["n_layer"] = config.n_layer;
  j["n_head"] = config.n_head;
  if (config.n_inner == 4 * config.n_embd) {
    j["n_inner"] = nullptr;
  } else {
    j["n_inner"] = config.n_inner;
  }
  j["layer_norm_epsilon"] = eps;
  j["bos_token_id"] = config.eos_token_id;
  j["eos_token_id"] = config.eos_token_id;
  j["scale_attn_weights"] = true;
  j["tie_word_embeddings"] = true;
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

}  // namespace gpt2q
