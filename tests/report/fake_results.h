// Made-up results of a compare run, shared by the report tests.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "report/results.h"

namespace gpt2q::testing {

inline RunInfo FakeRun() {
  RunInfo run;
  run.model_name = "gpt2-tiny";
  run.model_path = "/models/gpt2-tiny";
  run.config = {64, 4, 4, 128, 1000, 256, 1e-5, "gelu_new", 240000};
  run.text_path = "data/heldout.txt";
  run.text = "To be, or not to be: <that> is the \"question\" & more.";
  run.text_chars = static_cast<int64_t>(run.text.size());
  run.text_tokens = 15;
  run.ctx = 128;
  run.stride = 64;
  run.seed = 42;
  run.threads = 2;
  run.version = "0.1.0";
  run.date = "2026-11-24T12:00:00Z";
  run.command_line = "gpt2q compare --quant nf4 --out out";
  run.settings = {{"hist_bins", "180"}, {"calib", "data/calib.txt"}};
  return run;
}

inline MethodResult FakeResult(const std::string& method, int64_t bytes, double ppl, int seed) {
  MethodResult r;
  r.method = method;
  r.scope = "linear";
  r.mode = "packed";
  r.format = method;
  r.weights_bytes = bytes;
  r.fp32_bytes = 1000000;
  r.hf_footprint_bytes = bytes + 1000;
  r.peak_forward_bytes = 5000000;
  r.ppl = ppl;
  r.loss = std::log(ppl);
  r.ppl_stderr = 0.1 * seed;
  r.delta_ppl = ppl - 10.0;
  r.kld_mean = 0.01 * seed;
  r.kld_stderr = 0.001;
  r.kld_median = 0.005 * seed;
  r.kld_p99 = 0.1 * seed;
  r.kld_max = 0.5 * seed;
  r.top1_agree = 1.0 - 0.02 * seed;
  r.top1_agree_stderr = 0.003;
  r.rms_delta_p = 0.01 * seed;
  r.eval_s = 1.5;
  r.tokens_per_s = 1000.0 / (1 + seed);
  r.quantize_s = 0.2 * seed;
  r.prefill_tokens_per_s = 3000.0 / (1 + seed);
  r.fp32_prefill_tokens_per_s = 3000.0;
  r.decode_tokens_per_s = 100.0 / (1 + seed);
  r.decode_tokens = 60;
  for (int l = 0; l < 4; ++l) {
    for (const char* t : {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}) {
      r.per_tensor.push_back({"h." + std::to_string(l) + "." + t + ".weight", 1e-4 * seed,
                              40.0 - 5 * seed + l, 0.01 * seed});
    }
  }
  r.samples = {{"ROMEO:", "ROMEO: a <b>sample</b> with ``` fences | pipes"}};
  return r;
}

// fp32 baseline plus three methods; "q4_0:x=1,y=2" has a comma for CSV quoting.
inline std::vector<MethodResult> FakeResults() {
  MethodResult fp32 = FakeResult("fp32", 1000000, 10.0, 0);
  fp32.kld_mean = 0;
  for (auto& t : fp32.per_tensor) t.sqnr_db = INFINITY;
  fp32.notes = {"baseline"};
  return {fp32, FakeResult("absmax", 260000, 10.2, 1), FakeResult("q4_0:x=1,y=2", 150000, 10.9, 2),
          FakeResult("zeropoint", 300000, 11.5, 3)};
}

}  // namespace gpt2q::testing
