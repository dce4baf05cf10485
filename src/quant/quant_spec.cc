// The method table, spec parsing and scopes.
#include "quant/quant_spec.h"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "formats/int_group.h"
#include "quant/awq_method.h"
#include "quant/gptq_method.h"
#include "quant/smoothquant.h"
#include "quant/zeroquant_lkd.h"

namespace gpt2q {
namespace {

FormatParams Same(const FormatParams& p) { return p; }

// simquant's `bits` b gives 2^b − 1 levels of the per-channel asymmetric format.
FormatParams SimquantToFormat(const FormatParams& p) {
  return {{"levels", std::exp2(p.at("bits")) - 1.0}};
}

FormatParams NoParams(const FormatParams&) { return {}; }

// rtn's options are int-group's: bits 2/3/4/8, group −1 or ≥ 1, sym 0/1.
Status ValidateRtn(const FormatParams& p) { return ParseIntGroupOptions("method rtn", p).status(); }
// SmoothQuant stores int8-row W8A8 with its own arithmetic (delta=1: q =
// round(W/Δ), activations x/Δ_t, as its fake_quant.py); the static steps are
// set per linear by its calibration. What QuantizeModel rounds to nearest
// itself (the tied head under scope linear) gets per-token activations.
FormatParams SmoothQuantToFormat(const FormatParams&) { return {{"w8a8", 1}, {"delta", 1}}; }

// The int8 methods multiply weight-only by default (as the notebooks do); this
// option switches them to int8 activations and int8×int8 kernels.
const MethodParam kW8a8 = {"w8a8", 0, "1 = per-token int8 activations, int8×int8 kernels (W8A8)"};

// SmoothQuant's and W8A8's activation option.
const MethodParam kAct = {"act", 0,
                          "token: per-token dynamic int8 activations; static: one calibrated step per linear "
                          "(max|x|/127 on the calibration text, codes clamped to ±127)",
                          {"token", "static"}};

std::string JoinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

}  // namespace

const std::vector<MethodInfo>& MethodTable() {
  static const std::vector<MethodInfo> kTable = {
      {"fp32", "no quantization: the model as loaded", "fp32", {}, NoParams},
      {"fp16", "IEEE half precision weights", "fp16", {}, NoParams},
      {"bf16", "bfloat16 weights and bf16 arithmetic: activations rounded to bf16, fp32 accumulation", "bf16",
       {}, NoParams},
      {"absmax", "per-tensor symmetric int8: s = qmax/max|X|, q = round(s·X)", "int8-tensor",
       {{"qmax", 127, "largest code (the article's variant uses 100)"}, kW8a8}, Same},
      {"zeropoint", "per-tensor asymmetric int8: s = levels/(max−min), z = round(−s·min − 128)",
       "int8-tensor-asym", {{"levels", 255, "code levels (the article's variant uses 200)"}, kW8a8}, Same},
      {"symquant", "DeepSpeed symmetric 8-bit: s = max|X|/127.5, q = clamp(round(X/s), −128, 127)",
       "int8-symquant", {kW8a8}, Same},
      {"simquant", "KVQuant-style per-channel asymmetric min-max, unsigned codes",
       "int8-row-asym", {{"bits", 8, "bits per code (stored in one byte)"}}, SimquantToFormat},
      {"absmax-row", "per-output-channel symmetric int8 (vector-wise absmax)", "int8-row", {kW8a8}, Same},
      {"zeropoint-row", "per-output-channel asymmetric int8", "int8-row-asym",
       {{"levels", 255, "code levels"}, kW8a8}, Same},
      {"zeroquant", "ZeroQuant: group-wise symmetric weights + token-wise dynamic int8 activations; "
                    "lkd=1 adds its layer-by-layer knowledge distillation",
       "int8-group", {{"group", 64, "values per group along the input dimension"},
                      {"bits", 8, "weight bits: 8 or 4"},
                      {"lkd", 0, "1 = layer-by-layer distillation (calibrated): per block, Adam on the linear "
                                 "weights, fake-quantized with straight-through gradients, against the fp32 "
                                 "block's outputs on the calibration windows; then quantize",
                       {}, 0, 1, "lkd"},
                      {"lkd_steps", kLkdDefaultSteps, "Adam steps per block (lkd=1)", {}, 1, 1e9, "lkd"},
                      {"lkd_lr", kLkdDefaultLr, "Adam learning rate (lkd=1)", {}, 1e-12, 1, "lkd"},
                      {"lkd_batch", kLkdDefaultBatch, "calibration windows per Adam step (lkd=1)", {}, 1, 1e9,
                       "lkd"}},
       ZeroquantToFormat, ValidateZeroquant, CalibrateZeroquant, ZeroquantNeedsCalibration},
      {"llm-int8", "LLM.int8(): int8 rows + per-token int8 activations, outlier columns in fp32",
       "llm-int8", {{"threshold", 6.0, "outlier threshold on |X| (0 = no decomposition)"}}, Same},
      {"nf4", "bitsandbytes NF4: 4-bit NormalFloat codes, one absmax per block", "nf4",
       {{"block", 64, "values per block"}, {"double", 0, "1 = double-quantize the absmax values"}}, Same},
      {"fp4", "bitsandbytes FP4 (e2m1): 4-bit float codes, one absmax per block", "fp4",
       {{"block", 64, "values per block"}, {"double", 0, "1 = double-quantize the absmax values"}}, Same},
      {"q8_0", "llama.cpp Q8_0: 32-value blocks, int8 codes, fp16 scale", "q8_0", {}, NoParams},
      {"q4_0", "llama.cpp Q4_0: 32-value blocks, 4-bit codes, fp16 scale", "q4_0", {}, NoParams},
      {"q4_1", "llama.cpp Q4_1: 32-value blocks, 4-bit codes, fp16 scale and min", "q4_1", {}, NoParams},
      {"q5_0", "llama.cpp Q5_0: 32-value blocks, 5-bit codes, fp16 scale", "q5_0", {}, NoParams},
      {"q5_1", "llama.cpp Q5_1: 32-value blocks, 5-bit codes, fp16 scale and min", "q5_1", {}, NoParams},
      {"q4_k", "llama.cpp Q4_K: 256-value super-blocks of 8×32, 6-bit scales and mins", "q4_k", {}, NoParams},
      {"q6_k", "llama.cpp Q6_K: 256-value super-blocks of 16×16, 8-bit scales", "q6_k", {}, NoParams},
      {"rtn", "round-to-nearest with GPTQ's min-max quantizer, group-wise along the input: "
              "GPTQ's and AWQ's baseline", "int-group",
       {{"bits", 4, "bits per code: 2, 3, 4 or 8"},
        {"group", 128, "columns per group along the input dimension (-1 = one group per row)"},
        {"sym", 0, "1 = symmetric grid (zero-point 2^(bits-1))"}},
       Same, ValidateRtn},
      {"gptq",
       "GPTQ (calibrated; IST-DASLab gptq.py): each column rounded in turn with its error spread over the "
       "later columns by the inverse Hessian of the layer's calibration inputs, blocks and linears in "
       "order on the model quantized so far; GPTQ's min-max groups into int-group",
       "int-group",
       {{"bits", 4, "bits per code: 2, 3, 4 or 8"},
        {"group", 128, "columns per group along the input dimension (-1 = one group per row)"},
        {"sym", 0, "1 = symmetric grid (zero-point 2^(bits-1))"},
        {"act_order", 0, "1 = columns in order of decreasing Hessian diagonal, groups kept static"},
        {"damp", 0.01, "diagonal damping as a fraction of the mean Hessian diagonal"},
        {"block", 128, "columns per lazy batch update"}},
       GptqToFormat, ValidateGptq, CalibrateGptq},
      {"awq",
       "AWQ (calibrated; mit-han-lab llm-awq): per-channel scales searched on a grid for ln_1→c_attn, "
       "V→attn.c_proj, ln_2→c_fc and GELU→mlp.c_proj from fp32 activations, a clipping search, then "
       "round-to-nearest with AWQ's quantizer (no zero forced into the range) into int-group",
       "int-group",
       {{"bits", 4, "bits per code: 2, 3, 4 or 8"},
        {"group", 128, "columns per group along the input dimension (-1 = one group per row)"},
        {"clip", 1, "1 = search a clipping range per (row, group) (llm-awq auto_clip)"},
        {"grid", 20, "scale exponents tried: 0, 1/grid, ..., (grid-1)/grid"}},
       AwqToFormat, ValidateAwq, CalibrateAwq},
      {"smoothquant",
       "SmoothQuant W8A8 (calibrated): per-channel smoothing folded into ln_1→c_attn and ln_2→c_fc, "
       "then int8 weights per output channel and int8 activations (mit-han-lab semantics)",
       "int8-row", {{"alpha", 0.5, "migration strength: s = a^alpha / w^(1−alpha)", {}, 0.0, 1.0},
                    kAct},
       SmoothQuantToFormat, nullptr, CalibrateSmoothQuant},
      {"w8a8", "W8A8 without smoothing (SmoothQuant's baseline; calibrated for act=static): int8 weights per "
               "output channel, int8 activations", "int8-row", {kAct}, SmoothQuantToFormat, nullptr, CalibrateSmoothQuant},
  };
  return kTable;
}

std::string QuantSpec::ToString() const {
  std::string out(method->name);
  char sep = ':';
  for (const auto& p : method->params) {
    if (!p.only_with.empty() && params.at(std::string(p.only_with)) == 0) continue;
    std::ostringstream v;
    const double value = params.at(std::string(p.key));
    if (!p.choices.empty()) {
      v << p.choices.at(static_cast<size_t>(value));
    } else {
      v << value;
    }
    out += sep + std::string(p.key) + "=" + v.str();
    sep = ',';
  }
  return out;
}

Result<QuantSpec> ParseQuantSpec(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  QuantSpec spec;
  std::vector<std::string_view> names;
  for (const auto& m : MethodTable()) {
    names.push_back(m.name);
    if (m.name == name) spec.method = &m;
  }
  if (!spec.method) {
    return Status::Error("unknown quantization method '" + std::string(name) +
                         "'; valid methods: " + JoinNames(names));
  }
  for (const auto& p : spec.method->params) spec.params[std::string(p.key)] = p.default_value;
  std::string_view rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  std::vector<const MethodParam*> given;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    std::vector<std::string_view> keys;
    for (const auto& p : spec.method->params) keys.push_back(p.key);
    const std::string key(item.substr(0, eq));
    if (eq == std::string_view::npos || !spec.params.count(key)) {
      return Status::Error("method " + std::string(name) + ": unknown option '" + std::string(item) +
                           "'; valid options: " + (keys.empty() ? "none" : JoinNames(keys)));
    }
    const std::string value(item.substr(eq + 1));
    const MethodParam* param = nullptr;
    for (const auto& p : spec.method->params) {
      if (p.key == key) param = &p;
    }
    given.push_back(param);
    if (!param->choices.empty()) {
      auto it = std::find(param->choices.begin(), param->choices.end(), value);
      if (it == param->choices.end()) {
        return Status::Error("method " + std::string(name) + ": option " + key + " is one of " +
                             JoinNames(param->choices) + ", got '" + value + "'");
      }
      spec.params[key] = static_cast<double>(it - param->choices.begin());
      continue;
    }
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(v)) {
      return Status::Error("method " + std::string(name) + ": option " + key + " needs a number, got '" +
                           value + "'");
    }
    if (v < param->min || v > param->max) {
      std::ostringstream range;
      range << "[" << param->min << ", " << param->max << "]";
      return Status::Error("method " + std::string(name) + ": option " + key + "=" + value +
                           " is outside " + range.str());
    }
    spec.params[key] = v;
  }
  for (const MethodParam* p : given) {
    if (!p->only_with.empty() && p->only_with != p->key && spec.params.at(std::string(p->only_with)) == 0) {
      return Status::Error("method " + std::string(name) + ": option " + std::string(p->key) + " applies only with " +
                           std::string(p->only_with) + "=1");
    }
  }
  if (spec.method->validate != nullptr) GPT2Q_RETURN_IF_ERROR(spec.method->validate(spec.params));
  return spec;
}

bool NeedsCalibration(const QuantSpec& spec) {
  if (spec.method->calibrate == nullptr) return false;
  return spec.method->calibrated_when == nullptr || spec.method->calibrated_when(spec.params);
}

Result<QuantMode> ParseQuantMode(std::string_view text) {
  if (text == "packed") return QuantMode::kPacked;
  if (text == "simulate") return QuantMode::kSimulate;
  return Status::Error("unknown mode '" + std::string(text) + "'; valid modes: packed, simulate");
}

std::string_view QuantModeName(QuantMode mode) {
  return mode == QuantMode::kPacked ? "packed" : "simulate";
}

const std::vector<std::string_view>& ScopePresets() {
  static const std::vector<std::string_view> kPresets = {"linear",     "all-params", "no-lm-head",
                                                         "lm-head",    "last4-attn", "qkv", "none"};
  return kPresets;
}

Result<Scope> MakeScope(std::string_view preset, const std::vector<std::string>& include,
                        const std::vector<std::string>& skip, int64_t n_layer) {
  bool known = false;
  for (auto p : ScopePresets()) known |= (p == preset);
  if (!known) {
    return Status::Error("unknown scope '" + std::string(preset) + "'; valid scopes: " +
                         JoinNames(ScopePresets()) + " (plus --include/--skip patterns)");
  }
  for (const auto* list : {&include, &skip}) {
    for (const auto& pattern : *list) {
      if (pattern.empty() || pattern.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.*?[]-!") !=
                                 std::string::npos) {
        return Status::Error("bad tensor-name pattern '" + pattern +
                             "': use letters, digits, '.', '_', '-' and the globs * ? [...]");
      }
    }
  }
  return Scope{std::string(preset), include, skip, n_layer};
}

bool Scope::Selects(const std::string& name, ParamKind kind) const {
  auto matches = [&](const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) {
      if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
    }
    return false;
  };
  if (matches(skip)) return false;
  if (matches(include)) return true;
  const bool linear = kind == ParamKind::kLinear;
  const bool head = kind == ParamKind::kHead || kind == ParamKind::kEmbedding;
  if (preset == "all-params") return true;
  if (preset == "linear") return linear || head;
  if (preset == "no-lm-head") return linear;
  if (preset == "lm-head") return kind == ParamKind::kHead;
  if (preset == "qkv") return linear && name.find(".attn.c_attn.") != std::string::npos;
  if (preset == "last4-attn") {
    if (!linear || name.find(".attn.") == std::string::npos) return false;
    const int64_t layer = std::strtoll(name.c_str() + 2, nullptr, 10);  // "h.N.…"
    return layer >= n_layer - 4;
  }
  return false;  // "none"
}

std::string Scope::Label() const {
  std::string label = preset;
  for (const auto& p : include) label += "+" + p;
  for (const auto& p : skip) label += "-" + p;
  return label;
}

}  // namespace gpt2q
