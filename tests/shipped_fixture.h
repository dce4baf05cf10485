// The shipped model (the fixture copied into data/) and its reference.json,
// for the test suites that check the engine against the PyTorch reference.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/blas.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"

namespace gpt2q {

inline const std::string kShippedModelDir = std::string(GPT2Q_DATA_DIR) + "/gpt2-tiny-shakespeare";

inline nlohmann::json LoadShippedReference() {
  std::ifstream in(kShippedModelDir + "/reference.json");
  return nlohmann::json::parse(in);
}

// Returns the shipped model on the heap (a suite's static), or null after
// recording the loader's error as a test failure.
inline GPT2* NewShippedModel() {
  UseSingleThreadedBlas();
  auto weights = LoadCheckpoint(kShippedModelDir);
  EXPECT_TRUE(weights.ok()) << weights.message();
  return weights.ok() ? new GPT2(std::move(weights).value()) : nullptr;
}

}  // namespace gpt2q
