// StoredParts: checked access to a stored matrix's parts; params as text.
#include "formats/stored_parts.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gpt2q {
namespace {

int64_t DtypeBytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  return 1;
}

}  // namespace

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Status StoredParts::Mismatch(const std::string& what, const std::string& expected,
                             const std::string& actual) const {
  return Status::Error(where + ": " + what + ": expected " + expected + ", got " + actual);
}

Result<const StoredPartView*> StoredParts::Get(const std::string& suffix, const std::string& dtype,
                                               const std::vector<int64_t>& shape) const {
  auto it = parts.find(suffix);
  if (it == parts.end()) {
    std::string have;
    for (const auto& [name, part] : parts) have += (have.empty() ? "" : ", ") + name;
    return Status::Error(where + ": missing part '" + suffix + "' (expected dtype " + dtype +
                         ", shape " + ShapeText(shape) + "); parts present: " +
                         (have.empty() ? "none" : have));
  }
  const StoredPartView& p = it->second;
  const std::string part = "part '" + suffix + "'";
  if (p.dtype != dtype) return Mismatch(part + " dtype", dtype, p.dtype);
  if (p.shape != shape) return Mismatch(part + " shape", ShapeText(shape), ShapeText(p.shape));
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  const int64_t bytes = numel * DtypeBytes(dtype);
  if (p.nbytes != bytes) {
    return Mismatch(part + " size", std::to_string(bytes) + " bytes", std::to_string(p.nbytes) + " bytes");
  }
  return &p;
}

Status StoredParts::CheckOnly(std::initializer_list<const char*> allowed) const {
  for (const auto& [name, part] : parts) {
    bool known = false;
    for (const char* a : allowed) known |= name == a;
    if (!known) {
      std::string valid;
      for (const char* a : allowed) valid += (valid.empty() ? "" : ", ") + std::string(a);
      return Status::Error(where + ": unexpected part '" + name + "'; this format stores: " + valid);
    }
  }
  return OkStatus();
}

AlignedBuffer CopyPart(const StoredPartView& part) {
  AlignedBuffer buffer(static_cast<size_t>(part.nbytes));
  if (part.nbytes > 0) std::memcpy(buffer.data(), part.data, static_cast<size_t>(part.nbytes));
  return buffer;
}

std::string ParamsToText(const std::map<std::string, double>& params) {
  std::string text;
  for (const auto& [key, value] : params) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", value);
    text += (text.empty() ? "" : ",") + key + "=" + buf;
  }
  return text;
}

Result<std::map<std::string, double>> ParamsFromText(const std::string& where,
                                                     const std::string& text) {
  std::map<std::string, double> params;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::Error(where + ": params '" + text + "': expected key=value, got '" + item + "'");
    }
    const std::string value = item.substr(eq + 1);
    char* stop = nullptr;
    const double v = std::strtod(value.c_str(), &stop);
    if (value.empty() || *stop != '\0' || !std::isfinite(v)) {
      return Status::Error(where + ": params '" + text + "': expected a finite number for '" +
                           item.substr(0, eq) + "', got '" + value + "'");
    }
    params[item.substr(0, eq)] = v;
    pos = end + 1;
  }
  return params;
}

}  // namespace gpt2q
