// libFuzzer target: arbitrary bytes as config.json. Parsing must fail cleanly
// with a message naming the file, or give a config within the documented limits
// that survives ConfigToJson and back unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto config = gpt2q::ParseConfigJsonText("fuzz/config.json", text);
  if (!config.ok()) {
    if (config.message().rfind("fuzz/config.json: ", 0) != 0) std::abort();
    return 0;
  }
  const gpt2q::GPT2Config& c = *config;
  if (c.n_vocab < 1 || c.n_vocab > 1000000 || c.n_embd < 1 || c.n_head < 1 ||
      c.n_embd % c.n_head != 0 || c.n_layer < 1 || c.n_ctx < 1 || c.n_inner < 1 ||
      !(c.layer_norm_epsilon > 0) || c.eos_token_id < 0 || c.eos_token_id >= c.n_vocab) {
    std::abort();
  }
  if (c.ParameterCount() <= 0) std::abort();  // limits keep it from overflowing
  auto back = gpt2q::ParseConfigJsonText("rt", gpt2q::ConfigToJson(c));
  if (!back.ok() || back->n_vocab != c.n_vocab || back->n_ctx != c.n_ctx ||
      back->n_embd != c.n_embd || back->n_layer != c.n_layer || back->n_head != c.n_head ||
      back->n_inner != c.n_inner || back->layer_norm_epsilon != c.layer_norm_epsilon) {
    std::abort();
  }
  return 0;
}
