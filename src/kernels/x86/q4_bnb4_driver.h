// The token loop shared by the SIMD bnb4 row kernels: blocks of up to 8 token
// rows, each handed to the kernel instantiated for its exact count. Included
// only by x86/q4_bnb4_*.cc.
#pragma once

#include <cstdint>

namespace gpt2q::bnb4_detail {

// Calls kernel.template operator()<M>(t0) for token blocks [t0, t0 + M) of n.
template <typename Kernel>
void ForEachTokenBlock(int64_t n, Kernel&& kernel) {
  for (int64_t t0 = 0; t0 < n; t0 += 8) {
    switch (n - t0 < 8 ? n - t0 : 8) {
      case 1: kernel.template operator()<1>(t0); break;
      case 2: kernel.template operator()<2>(t0); break;
      case 3: kernel.template operator()<3>(t0); break;
      case 4: kernel.template operator()<4>(t0); break;
      case 5: kernel.template operator()<5>(t0); break;
      case 6: kernel.template operator()<6>(t0); break;
      case 7: kernel.template operator()<7>(t0); break;
      default: kernel.template operator()<8>(t0); break;
    }
  }
}

}  // namespace gpt2q::bnb4_detail
