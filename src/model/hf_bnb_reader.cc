// ReadHfBnbTensors: a transformers + bitsandbytes model.safetensors mapped
// onto gpt2q's llm-int8 / nf4 / fp4 stored parts, every part checked first.
#include "model/hf_bnb_reader.h"

#include <cstring>
#include <vector>

#include "core/half.h"
#include "formats/bnb4.h"
#include "formats/format.h"
#include "formats/llm_int8.h"
#include "formats/stored_parts.h"

namespace gpt2q {
namespace {

std::string Shape(const std::vector<int64_t>& shape) { return ShapeText(shape); }

// One block linear: its module name ("h.0.attn.c_attn") and [out, in].
struct Linear {
  std::string module;
  int64_t rows, cols;
};

std::vector<Linear> BlockLinears(const GPT2Config& c) {
  std::vector<Linear> out;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    out.push_back({p + "attn.c_attn", 3 * c.n_embd, c.n_embd});
    out.push_back({p + "attn.c_proj", c.n_embd, c.n_embd});
    out.push_back({p + "mlp.c_fc", c.n_inner, c.n_embd});
    out.push_back({p + "mlp.c_proj", c.n_embd, c.n_inner});
  }
  return out;
}

bool IsFloat(Dtype d) { return d == Dtype::kF32 || d == Dtype::kF16 || d == Dtype::kBF16; }

class Reader {
 public:
  Reader(const SafetensorsFile& file, HfBnbTensors& out) : file_(file), out_(out) {}

  // Returns the tensor `name` spelled bare or "transformer."-prefixed (null
  // if neither); an error if both exist.
  Result<const TensorView*> Find(const std::string& name) const {
    const TensorView* bare = file_.Find(name);
    const TensorView* prefixed = file_.Find(kHfBnbPrefix + name);
    if (bare != nullptr && prefixed != nullptr) {
      return Status::Error(file_.path() + ": tensor '" + name + "' appears twice ('" + name + "' and '" +
                           kHfBnbPrefix + name + "')");
    }
    return bare != nullptr ? bare : prefixed;
  }

  Status Error(const TensorView& t, const std::string& what, const std::string& expected,
               const std::string& actual) const {
    return Status::Error(file_.path() + ": tensor '" + t.name + "': " + what + ": expected " + expected +
                         ", got " + actual);
  }

  Status Check(const TensorView& t, Dtype dtype, const std::vector<int64_t>& shape) const {
    if (t.dtype != dtype) return Error(t, "dtype", DtypeName(dtype), DtypeName(t.dtype));
    if (t.shape != shape) return Error(t, "shape", Shape(shape), Shape(t.shape));
    return OkStatus();
  }

  // Adds `t` as part `suffix` (viewed with `shape`) of `entry`.
  void Use(StoredMatrixEntry& entry, const std::string& suffix, const TensorView& t,
           std::vector<int64_t> shape) {
    entry.parts.parts[suffix] = StoredPartView{DtypeName(t.dtype), std::move(shape), t.data, t.nbytes};
    out_.tensors.part_names.insert(t.name);
  }

  Status Read8bit(const Linear& l);
  Status Read4bit(const Linear& l);

 private:
  Status CheckTable(const TensorView& t, const float* expected, int64_t n, const char* what) const;

  const SafetensorsFile& file_;
  HfBnbTensors& out_;
};

Status Reader::CheckTable(const TensorView& t, const float* expected, int64_t n, const char* what) const {
  GPT2Q_RETURN_IF_ERROR(Check(t, Dtype::kF32, {n}));
  for (int64_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, t.data + 4 * i, 4);
    if (FloatToBits(v) != FloatToBits(expected[i])) {
      return Error(t, "value " + std::to_string(i), std::string(what) + " " + PythonFloatRepr(expected[i]),
                   PythonFloatRepr(v) + " (gpt2q's kernels use bitsandbytes' own table)");
    }
  }
  return OkStatus();
}

Status Reader::Read8bit(const Linear& l) {
  GPT2Q_ASSIGN_OR_RETURN(const TensorView* w, Find(l.module + ".weight"));
  GPT2Q_ASSIGN_OR_RETURN(const TensorView* scb, Find(l.module + ".SCB"));
  GPT2Q_ASSIGN_OR_RETURN(const TensorView* format, Find(l.module + ".weight_format"));
  const TensorView* part = scb != nullptr ? scb : format;
  if (w == nullptr || IsFloat(w->dtype)) {
    if (part == nullptr) return OkStatus();  // plain (or missing: the loader says so)
    return Status::Error(file_.path() + ": tensor '" + part->name + "': an 8-bit part of '" + l.module +
                         "', whose weight is " + (w == nullptr ? "missing" : DtypeName(w->dtype)) +
                         " (expected an I8 weight beside it)");
  }
  GPT2Q_RETURN_IF_ERROR(Check(*w, Dtype::kI8, {l.rows, l.cols}));
  if (scb == nullptr) {
    return Status::Error(file_.path() + ": tensor '" + w->name + "' is int8 but '" + l.module +
                         ".SCB' (its F32 row scales) is missing");
  }
  GPT2Q_RETURN_IF_ERROR(Check(*scb, Dtype::kF32, {l.rows}));
  if (format != nullptr) {
    GPT2Q_RETURN_IF_ERROR(Check(*format, Dtype::kU8, {}));
    if (format->data[0] != 0) {
      return Error(*format, "value", "0 (row-major int8, bitsandbytes' \"row\")",
                   std::to_string(format->data[0]) + " (a GPU tile layout gpt2q does not read)");
    }
    out_.tensors.part_names.insert(format->name);
  }
  StoredMatrixEntry entry;
  GPT2Q_ASSIGN_OR_RETURN(entry.format, FindFormat("llm-int8"));
  entry.params["threshold"] = out_.config.llm_int8_threshold;
  entry.rows = l.rows;
  entry.cols = l.cols;
  entry.parts.where = file_.path() + ": tensor '" + w->name + "'";
  Use(entry, "codes", *w, {l.rows, l.cols});
  Use(entry, "scales", *scb, {l.rows, 1});
  out_.tensors.matrices.emplace(l.module + ".weight", std::move(entry));
  return OkStatus();
}

Status Reader::Read4bit(const Linear& l) {
  GPT2Q_ASSIGN_OR_RETURN(const TensorView* w, Find(l.module + ".weight"));
  // Every "MODULE.weight.*" tensor is a 4-bit part.
  std::map<std::string, const TensorView*> parts;
  for (const std::string& prefix : {kHfBnbPrefix + l.module + ".weight.", l.module + ".weight."}) {
    for (const TensorView& t : file_.tensors()) {
      if (t.name.rfind(prefix, 0) == 0) parts[t.name.substr(prefix.size())] = &t;
    }
  }
  if (w == nullptr || IsFloat(w->dtype)) {
    if (parts.empty()) return OkStatus();
    return Status::Error(file_.path() + ": tensor '" + parts.begin()->second->name + "': a 4-bit part of '" +
                         l.module + "', whose weight is " + (w == nullptr ? "missing" : DtypeName(w->dtype)) +
                         " (expected a packed U8 weight beside it)");
  }
  const std::string nf4_key = "quant_state.bitsandbytes__nf4", fp4_key = "quant_state.bitsandbytes__fp4";
  const TensorView* state_t = nullptr;
  std::string state_type;
  for (const auto& [suffix, t] : parts) {
    const bool known = suffix == "absmax" || suffix == "quant_map" || suffix == "nested_absmax" ||
                       suffix == "nested_quant_map" || suffix == nf4_key || suffix == fp4_key;
    if (!known) {
      return Status::Error(file_.path() + ": unknown tensor '" + t->name + "' (a 4-bit weight has absmax, "
                           "quant_map, quant_state.bitsandbytes__nf4|fp4, nested_absmax, nested_quant_map)");
    }
    if (suffix == nf4_key || suffix == fp4_key) {
      if (state_t != nullptr) {
        return Status::Error(file_.path() + ": '" + w->name + "' has two quant states ('" + state_t->name +
                             "' and '" + t->name + "'); expected one");
      }
      state_t = t;
      state_type = suffix == nf4_key ? "nf4" : "fp4";
    }
  }
  const std::string where = file_.path() + ": tensor '" + w->name + "'";
  if (state_t == nullptr) {
    return Status::Error(where + ": missing its quant state ('" + w->name +
                         ".quant_state.bitsandbytes__nf4' or '__fp4')");
  }
  if (state_t->dtype != Dtype::kU8 || state_t->shape.size() != 1) {
    return Error(*state_t, "dtype and shape", "U8 [length]", std::string(DtypeName(state_t->dtype)) + " " +
                 Shape(state_t->shape));
  }
  GPT2Q_ASSIGN_OR_RETURN(Bnb4QuantState state, ParseBnb4QuantState(file_.path() + ": tensor '" +
                                                                    state_t->name + "'",
                                                                    state_t->data, state_t->nbytes));
  const std::string state_where = file_.path() + ": tensor '" + state_t->name + "'";
  if (state.quant_type != state_type) {
    return Status::Error(state_where + ": quant_type: expected \"" + state_type + "\" (the tensor's name), got \"" +
                         state.quant_type + "\"");
  }
  if (state.rows != l.rows || state.cols != l.cols) {
    return Status::Error(state_where + ": shape: expected " + Shape({l.rows, l.cols}) +
                         " ([out, in] of the config's " + l.module + "), got " + Shape({state.rows, state.cols}));
  }
  FormatParams params = {{"block", static_cast<double>(state.blocksize)},
                         {"double", state.nested ? 1.0 : 0.0}};
  if (Result<Bnb4Options> o = ParseBnb4Options(state.quant_type, params); !o.ok()) {
    return Status::Error(state_where + ": blocksize: " + o.message());
  }
  const int64_t n = l.rows * l.cols;
  const int64_t n_blocks = (n + state.blocksize - 1) / state.blocksize;
  GPT2Q_RETURN_IF_ERROR(Check(*w, Dtype::kU8, {(n + 1) / 2, 1}));
  auto get = [&](const char* suffix) -> Result<const TensorView*> {
    auto it = parts.find(suffix);
    if (it == parts.end()) {
      return Status::Error(where + ": missing '" + w->name + "." + suffix + "'" +
                           (state.nested ? " (the quant state says double quantization)" : ""));
    }
    return it->second;
  };
  const Bnb4Kind kind = state.quant_type == "nf4" ? Bnb4Kind::kNf4 : Bnb4Kind::kFp4;
  GPT2Q_ASSIGN_OR_RETURN(const TensorView* quant_map, get("quant_map"));
  GPT2Q_RETURN_IF_ERROR(CheckTable(*quant_map, Bnb4Codebook(kind).data(), 16,
                                   kind == Bnb4Kind::kNf4 ? "the NF4 value" : "the FP4 value"));
  GPT2Q_ASSIGN_OR_RETURN(const TensorView* absmax, get("absmax"));
  StoredMatrixEntry entry;
  GPT2Q_ASSIGN_OR_RETURN(entry.format, FindFormat(state.quant_type));
  entry.params = params;
  entry.rows = l.rows;
  entry.cols = l.cols;
  entry.parts.where = where;
  Use(entry, "codes", *w, {(n + 1) / 2});
  out_.tensors.part_names.insert(quant_map->name);
  out_.tensors.part_names.insert(state_t->name);
  if (state.nested) {
    const int64_t n_nested = (n_blocks + kHfBnbNestedBlock - 1) / kHfBnbNestedBlock;
    GPT2Q_RETURN_IF_ERROR(Check(*absmax, Dtype::kU8, {n_blocks}));
    GPT2Q_ASSIGN_OR_RETURN(const TensorView* nested, get("nested_absmax"));
    GPT2Q_RETURN_IF_ERROR(Check(*nested, Dtype::kF32, {n_nested}));
    // The stored code is used as it is: create_dynamic_map's torch.linspace
    // differs in the last bit between torch versions (44 of 256 entries of
    // the fixtures' map differ from gpt2q's DynamicMap8()).
    GPT2Q_ASSIGN_OR_RETURN(const TensorView* nested_map, get("nested_quant_map"));
    GPT2Q_RETURN_IF_ERROR(Check(*nested_map, Dtype::kF32, {256}));
    Use(entry, "qabsmax", *absmax, {n_blocks});
    Use(entry, "nested_absmax", *nested, {n_nested});
    Use(entry, "nested_map", *nested_map, {256});
    const float& offset = out_.offsets.emplace_back(state.nested_offset);
    entry.parts.parts["offset"] =
        StoredPartView{"F32", {1}, reinterpret_cast<const uint8_t*>(&offset), sizeof(float)};
  } else {
    for (const char* nested : {"nested_absmax", "nested_quant_map"}) {
      if (parts.count(nested) != 0) {
        return Status::Error(file_.path() + ": tensor '" + parts[nested]->name +
                             "': double-quantization part, but the quant state '" + state_t->name +
                             "' has no nested_offset (expected both or neither)");
      }
    }
    GPT2Q_RETURN_IF_ERROR(Check(*absmax, Dtype::kF32, {n_blocks}));
    Use(entry, "absmax", *absmax, {n_blocks});
  }
  out_.tensors.matrices.emplace(l.module + ".weight", std::move(entry));
  return OkStatus();
}

}  // namespace

Result<std::optional<HfBnbTensors>> ReadHfBnbTensors(const std::string& config_path,
                                                     const SafetensorsFile& file,
                                                     const GPT2Config& config) {
  GPT2Q_ASSIGN_OR_RETURN(std::optional<HfBnbQuantConfig> qc, ReadHfBnbQuantConfig(config_path));
  if (!qc) return std::optional<HfBnbTensors>();
  std::optional<HfBnbTensors> out(std::in_place);
  out->config = *qc;
  Reader reader(file, *out);
  for (const Linear& l : BlockLinears(config)) {
    GPT2Q_RETURN_IF_ERROR(qc->load_in_8bit ? reader.Read8bit(l) : reader.Read4bit(l));
  }
  return out;
}

Result<std::optional<QuantizedCheckpointInfo>> HfBnbCheckpointInfo(const std::string& config_path,
                                                                   const ModelWeights& weights) {
  GPT2Q_ASSIGN_OR_RETURN(std::optional<HfBnbQuantConfig> qc, ReadHfBnbQuantConfig(config_path));
  if (!qc) return std::optional<QuantizedCheckpointInfo>();
  QuantizedCheckpointInfo info;
  info.scope = "hf-bnb";
  info.quant = "fp32";  // no block linear quantized (every module skipped)
  for (const BlockWeights& b : weights.blocks) {
    for (const auto* m : {b.attn_c_attn.get(), b.attn_c_proj.get(), b.mlp_c_fc.get(), b.mlp_c_proj.get()}) {
      FormatParams params;
      if (const auto* int8 = dynamic_cast<const LlmInt8Matrix*>(m)) {
        params["threshold"] = int8->threshold();
      } else if (const auto* bnb4 = dynamic_cast<const Bnb4Matrix*>(m)) {
        params["block"] = static_cast<double>(bnb4->options().block);
        params["double"] = bnb4->options().double_quant ? 1 : 0;
      } else {
        continue;
      }
      info.quant = m->format() + ":" + ParamsToText(params);
      return std::optional<QuantizedCheckpointInfo>(std::move(info));
    }
  }
  return std::optional<QuantizedCheckpointInfo>(std::move(info));
}

}  // namespace gpt2q
