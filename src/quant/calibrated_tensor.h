// Turns a matrix a calibrated method built (GPTQ, AWQ) into the model's tensor
// for a quantization mode, with its error statistics.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "formats/weight_matrix.h"
#include "quant/quantize_model.h"

namespace gpt2q {

// Returns `packed` (mode packed) or its dequantized fp32 copy (mode simulate,
// the same values: packed == simulate), with stats measured against
// `original` [rows, cols] (the layer's fp32 weights before the method).
QuantizedTensor FinishCalibratedTensor(const std::string& name, const std::vector<float>& original,
                                       std::unique_ptr<WeightMatrix> packed, QuantMode mode, ThreadPool& pool);

}  // namespace gpt2q
