// quantization_config and 4-bit quant-state JSON of the transformers +
// bitsandbytes layout: parsing with clear errors, and writing as Python does.
#include "model/hf_bnb_layout.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace gpt2q {
namespace {

Result<bool> ReadBool(const std::string& where, const nlohmann::json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) {
    return Status::Error(where + ": key '" + key + "': expected true or false, got " + it->dump());
  }
  return it->get<bool>();
}

Result<std::string> ReadString(const std::string& where, const nlohmann::json& j, const char* key,
                               const std::string& fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) {
    return Status::Error(where + ": key '" + key + "': expected a string, got " + it->dump());
  }
  return it->get<std::string>();
}

}  // namespace

Result<std::optional<HfBnbQuantConfig>> ReadHfBnbQuantConfig(const std::string& config_path) {
  std::ifstream in(config_path, std::ios::binary);
  if (!in) return Status::Error(config_path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Error(config_path + ": not a JSON object");
  }
  auto qc = j.find("quantization_config");
  if (qc == j.end() || qc->is_null()) return std::optional<HfBnbQuantConfig>();
  const std::string where = config_path + ": quantization_config";
  if (!qc->is_object()) return Status::Error(where + ": expected an object, got " + qc->dump());
  GPT2Q_ASSIGN_OR_RETURN(std::string method, ReadString(where, *qc, "quant_method", ""));
  if (method != kHfBnbQuantMethod) {
    return Status::Error(where + ": key 'quant_method': expected \"bitsandbytes\" (the only "
                         "transformers quantization gpt2q reads), got \"" + method + "\"");
  }
  HfBnbQuantConfig c;
  GPT2Q_ASSIGN_OR_RETURN(c.load_in_8bit, ReadBool(where, *qc, "load_in_8bit", false));
  GPT2Q_ASSIGN_OR_RETURN(c.load_in_4bit, ReadBool(where, *qc, "load_in_4bit", false));
  if (c.load_in_8bit == c.load_in_4bit) {
    return Status::Error(where + ": keys 'load_in_8bit' and 'load_in_4bit': expected exactly one "
                         "true, got " + std::string(c.load_in_8bit ? "both" : "neither"));
  }
  GPT2Q_ASSIGN_OR_RETURN(bool fp16_weight, ReadBool(where, *qc, "llm_int8_has_fp16_weight", false));
  if (fp16_weight) {
    return Status::Error(where + ": key 'llm_int8_has_fp16_weight': expected false (int8 weights "
                         "stored), got true (fp16 weights: nothing quantized to load)");
  }
  if (auto it = qc->find("llm_int8_threshold"); it != qc->end() && !it->is_null()) {
    if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0.0) {
      return Status::Error(where + ": key 'llm_int8_threshold': expected a finite number >= 0, got " +
                           it->dump());
    }
    c.llm_int8_threshold = it->get<double>();
  }
  GPT2Q_ASSIGN_OR_RETURN(c.bnb_4bit_quant_type, ReadString(where, *qc, "bnb_4bit_quant_type", "fp4"));
  GPT2Q_ASSIGN_OR_RETURN(c.bnb_4bit_use_double_quant,
                         ReadBool(where, *qc, "bnb_4bit_use_double_quant", false));
  GPT2Q_ASSIGN_OR_RETURN(c.bnb_4bit_compute_dtype,
                         ReadString(where, *qc, "bnb_4bit_compute_dtype", "float32"));
  GPT2Q_ASSIGN_OR_RETURN(c.bnb_4bit_quant_storage,
                         ReadString(where, *qc, "bnb_4bit_quant_storage", "uint8"));
  if (c.load_in_4bit && c.bnb_4bit_quant_storage != "uint8") {
    return Status::Error(where + ": key 'bnb_4bit_quant_storage': expected \"uint8\", got \"" +
                         c.bnb_4bit_quant_storage + "\"");
  }
  // transformers 4.x writes torch_dtype, v5 writes dtype.
  GPT2Q_ASSIGN_OR_RETURN(std::string dtype, ReadString(config_path, j, "dtype", ""));
  GPT2Q_ASSIGN_OR_RETURN(std::string torch_dtype, ReadString(config_path, j, "torch_dtype", ""));
  if (!dtype.empty() && !torch_dtype.empty() && dtype != torch_dtype) {
    return Status::Error(config_path + ": keys 'dtype' and 'torch_dtype': expected the same value, got \"" +
                         dtype + "\" and \"" + torch_dtype + "\"");
  }
  c.dtype = dtype.empty() ? torch_dtype : dtype;
  return std::optional<HfBnbQuantConfig>(std::move(c));
}

std::string HfBnbQuantConfigJson(const HfBnbQuantConfig& c) {
  nlohmann::json j;  // std::map-backed: keys sorted, as json.dumps(sort_keys=True)
  j["_load_in_4bit"] = c.load_in_4bit;
  j["_load_in_8bit"] = c.load_in_8bit;
  j["bnb_4bit_compute_dtype"] = c.bnb_4bit_compute_dtype;
  j["bnb_4bit_quant_storage"] = c.bnb_4bit_quant_storage;
  j["bnb_4bit_quant_type"] = c.bnb_4bit_quant_type;
  j["bnb_4bit_use_double_quant"] = c.bnb_4bit_use_double_quant;
  j["llm_int8_enable_fp32_cpu_offload"] = false;
  j["llm_int8_has_fp16_weight"] = false;
  j["llm_int8_skip_modules"] = nullptr;
  j["llm_int8_threshold"] = c.llm_int8_threshold;
  j["load_in_4bit"] = c.load_in_4bit;
  j["load_in_8bit"] = c.load_in_8bit;
  j["quant_method"] = kHfBnbQuantMethod;
  return j.dump();
}

Result<Bnb4QuantState> ParseBnb4QuantState(const std::string& where, const uint8_t* bytes,
                                           int64_t size) {
  const std::string text(reinterpret_cast<const char*>(bytes), static_cast<size_t>(size));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Error(where + ": expected the JSON object of a bitsandbytes quant state, got " +
                         std::to_string(size) + " bytes that are not one");
  }
  Bnb4QuantState s;
  auto need = [&](const char* key) -> Result<const nlohmann::json*> {
    auto it = j.find(key);
    if (it == j.end()) return Status::Error(where + ": missing key '" + std::string(key) + "'");
    return &*it;
  };
  auto bad = [&](const char* key, const std::string& expected, const nlohmann::json& got) {
    return Status::Error(where + ": key '" + std::string(key) + "': expected " + expected + ", got " +
                         got.dump());
  };
  for (const auto& [key, value] : j.items()) {
    static const char* kKnown[] = {"quant_type", "blocksize", "dtype", "shape",
                                   "nested_blocksize", "nested_dtype", "nested_offset"};
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      return Status::Error(where + ": unknown key '" + key + "' (expected quant_type, blocksize, dtype, "
                           "shape, and nested_blocksize, nested_dtype, nested_offset with double quantization)");
    }
  }
  GPT2Q_ASSIGN_OR_RETURN(const nlohmann::json* qt, need("quant_type"));
  if (!qt->is_string() || (*qt != "nf4" && *qt != "fp4")) return bad("quant_type", "\"nf4\" or \"fp4\"", *qt);
  s.quant_type = qt->get<std::string>();
  GPT2Q_ASSIGN_OR_RETURN(const nlohmann::json* bs, need("blocksize"));
  if (!bs->is_number_integer() || bs->get<int64_t>() <= 0) return bad("blocksize", "a positive integer", *bs);
  s.blocksize = bs->get<int64_t>();
  GPT2Q_ASSIGN_OR_RETURN(const nlohmann::json* dt, need("dtype"));
  if (!dt->is_string() || (*dt != "float16" && *dt != "float32" && *dt != "bfloat16")) {
    return bad("dtype", "\"float16\", \"float32\" or \"bfloat16\"", *dt);
  }
  s.dtype = dt->get<std::string>();
  GPT2Q_ASSIGN_OR_RETURN(const nlohmann::json* shape, need("shape"));
  if (!shape->is_array() || shape->size() != 2 || !(*shape)[0].is_number_integer() ||
      !(*shape)[1].is_number_integer() || (*shape)[0].get<int64_t>() <= 0 ||
      (*shape)[1].get<int64_t>() <= 0) {
    return bad("shape", "[out_features, in_features] (two positive integers)", *shape);
  }
  s.rows = (*shape)[0].get<int64_t>();
  s.cols = (*shape)[1].get<int64_t>();
  const int nested_keys = static_cast<int>(j.contains("nested_blocksize")) +
                          static_cast<int>(j.contains("nested_dtype")) +
                          static_cast<int>(j.contains("nested_offset"));
  if (nested_keys != 0 && nested_keys != 3) {
    return Status::Error(where + ": expected all of nested_blocksize, nested_dtype and nested_offset "
                         "(double quantization) or none, got " + std::to_string(nested_keys) + " of them");
  }
  s.nested = nested_keys == 3;
  if (s.nested) {
    const nlohmann::json& nb = j["nested_blocksize"];
    if (!nb.is_number_integer() || nb.get<int64_t>() != kHfBnbNestedBlock) {
      return bad("nested_blocksize", "256 (bitsandbytes' nested block)", nb);
    }
    const nlohmann::json& nd = j["nested_dtype"];
    if (nd != "float32") return bad("nested_dtype", "\"float32\"", nd);
    const nlohmann::json& off = j["nested_offset"];
    if (!off.is_number() || !std::isfinite(off.get<double>()) ||
        !std::isfinite(static_cast<float>(off.get<double>()))) {
      return bad("nested_offset", "a finite number", off);
    }
    s.nested_offset = static_cast<float>(off.get<double>());
  }
  return s;
}

std::string Bnb4QuantStateJson(const Bnb4QuantState& s) {
  std::string text = "{\"quant_type\": \"" + s.quant_type + "\", \"blocksize\": " +
                     std::to_string(s.blocksize) + ", \"dtype\": \"" + s.dtype + "\", \"shape\": [" +
                     std::to_string(s.rows) + ", " + std::to_string(s.cols) + "]";
  if (s.nested) {
    text += ", \"nested_blocksize\": " + std::to_string(s.nested_blocksize) + ", \"nested_dtype\": \"" +
            s.nested_dtype + "\", \"nested_offset\": " + PythonFloatRepr(s.nested_offset);
  }
  return text + "}";
}

std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "NaN";  // json.dumps' spelling
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, end);  // "-d.ddde±XX", shortest round-trip digits
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp = std::stoi(sci.substr(e + 1));
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return sign + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    const size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) return sign + digits + std::string(int_len - digits.size(), '0') + ".0";
    return sign + digits.substr(0, int_len) + "." + digits.substr(int_len);
  }
  std::string mantissa = digits.substr(0, 1);
  if (digits.size() > 1) mantissa += "." + digits.substr(1);
  const int abs_exp = exp < 0 ? -exp : exp;
  return sign + mantissa + "e" + (exp < 0 ? "-" : "+") + (abs_exp < 10 ? "0" : "") +
         std::to_string(abs_exp);
}

}  // namespace gpt2q
