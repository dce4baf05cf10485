// libFuzzer target: arbitrary bytes as the model.safetensors of a quantized
// checkpoint (gpt2q.* metadata naming each matrix's format, params and shape).
// ReadQuantizedTensors must fail cleanly or give entries whose parts lie inside
// the input; each entry's format `load` (LoadStoredMatrix) must fail cleanly
// or give a matrix whose rows dequantize and multiply, and whose Store() loads
// back to the same bits.
//
// A data section shorter than the header says is completed with zero bytes
// before parsing, so that seeds made from a real checkpoint's header (whose
// data would make the corpus large) still reach the formats' loaders.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "formats/format.h"
#include "io/safetensors.h"
#include "model/quantized_checkpoint.h"

namespace {

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "quantized_checkpoint_fuzz: %s\n", what);
    std::abort();
  }
}

// Largest data section the padding builds, and the largest matrix multiplied.
constexpr uint64_t kMaxPaddedData = 64ull << 20;
constexpr int64_t kMaxMultiplied = int64_t{1} << 22;

// Returns the end of the data section the header declares (the largest
// data_offsets end), or 0 when the header is not readable JSON of that shape.
uint64_t DeclaredDataBytes(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t n;
  std::memcpy(&n, data, 8);
  if (n > size - 8) return 0;
  const nlohmann::json header = nlohmann::json::parse(data + 8, data + 8 + n, nullptr, false);
  if (!header.is_object()) return 0;
  uint64_t end = 0;
  for (const auto& [name, t] : header.items()) {
    if (!t.is_object() || !t.contains("data_offsets")) continue;
    const nlohmann::json& o = t["data_offsets"];
    if (o.is_array() && o.size() == 2 && o[1].is_number_unsigned()) {
      end = std::max(end, o[1].get<uint64_t>());
    }
  }
  return end;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  if (size >= 8) {
    uint64_t n;
    std::memcpy(&n, data, 8);
    const uint64_t declared = DeclaredDataBytes(data, size);
    if (n <= size - 8 && declared <= kMaxPaddedData && size - 8 - n < declared) {
      bytes.resize(8 + n + declared, 0);
    }
  }
  auto file = gpt2q::SafetensorsFile::FromBytes("fuzz.safetensors", bytes.data(), bytes.size(), nullptr);
  if (!file.ok()) return 0;
  auto quantized = gpt2q::ReadQuantizedTensors(**file);
  if (!quantized.ok()) {
    Require(quantized.message().rfind("fuzz.safetensors: ", 0) == 0, "error that does not name the file");
    return 0;
  }
  gpt2q::ThreadPool pool(1);
  const uint8_t* begin = bytes.data();
  const uint8_t* end = begin + bytes.size();
  for (const auto& [name, entry] : quantized->matrices) {
    Require(entry.format != nullptr && entry.rows > 0 && entry.cols > 0, "entry without format or shape");
    for (const auto& [suffix, part] : entry.parts.parts) {
      Require(part.nbytes >= 0 && part.data >= begin && part.data + part.nbytes <= end,
              "a part outside the file");
      Require(quantized->part_names.count(name + "." + suffix) == 1, "a part not in part_names");
    }
    auto matrix = gpt2q::LoadStoredMatrix(name, entry, entry.rows, entry.cols);
    if (!matrix.ok()) {
      Require(matrix.message().find("fuzz.safetensors") != std::string::npos,
              "error that does not name the file");
      continue;
    }
    const gpt2q::WeightMatrix& m = **matrix;
    Require(m.rows() == entry.rows && m.cols() == entry.cols, "a matrix of another shape");
    Require(m.format() == entry.format->name, "a matrix of another format");
    Require(m.StoredBytes() > 0, "a matrix that stores nothing");
    std::vector<float> row(m.cols()), again(m.cols());
    // Store() and load again: the same bits in the first and last rows.
    const gpt2q::StoredMatrix stored = m.Store();
    gpt2q::StoredParts views;
    views.where = "fuzz.safetensors: tensor '" + name + "' (stored again)";
    for (const gpt2q::StoredPart& p : stored.parts) {
      views.parts[p.suffix] = gpt2q::StoredPartView{p.dtype, p.shape, p.bytes.data(),
                                                    static_cast<int64_t>(p.bytes.size())};
    }
    auto back = entry.format->load(views, m.rows(), m.cols(), stored.params);
    Require(back.ok(), "Store() of a loaded matrix does not load");
    for (int64_t r : {int64_t{0}, m.rows() - 1}) {
      m.DequantizeRow(r, row.data());
      (*back)->DequantizeRow(r, again.data());
      Require(std::memcmp(row.data(), again.data(), row.size() * sizeof(float)) == 0,
              "Store() then load changed a row");
    }
    if (static_cast<double>(m.rows()) * static_cast<double>(m.cols()) <= kMaxMultiplied) {
      std::vector<float> x(m.cols(), 0.5f), y(m.rows());
      m.Multiply(x.data(), 1, y.data(), pool);
    }
  }
  return 0;
}
