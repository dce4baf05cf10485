// libFuzzer target: arbitrary bytes as the JSON quant state of a bitsandbytes
// 4-bit weight. Parsing must fail cleanly with a message naming the tensor,
// or give a state that Bnb4QuantStateJson writes and parses back unchanged
// (the nested offset's Python repr included).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/half.h"
#include "model/hf_bnb_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto state = gpt2q::ParseBnb4QuantState("fuzz: tensor 'q'", data, static_cast<int64_t>(size));
  if (!state.ok()) {
    if (state.message().rfind("fuzz: tensor 'q': ", 0) != 0) std::abort();
    return 0;
  }
  const std::string text = gpt2q::Bnb4QuantStateJson(*state);
  auto back = gpt2q::ParseBnb4QuantState("rt", reinterpret_cast<const uint8_t*>(text.data()),
                                         static_cast<int64_t>(text.size()));
  if (!back.ok()) std::abort();
  const gpt2q::Bnb4QuantState& a = *state;
  const gpt2q::Bnb4QuantState& b = *back;
  if (a.quant_type != b.quant_type || a.blocksize != b.blocksize || a.dtype != b.dtype ||
      a.rows != b.rows || a.cols != b.cols || a.nested != b.nested ||
      gpt2q::FloatToBits(a.nested_offset) != gpt2q::FloatToBits(b.nested_offset) ||
      gpt2q::Bnb4QuantStateJson(b) != text) {
    std::abort();
  }
  return 0;
}
