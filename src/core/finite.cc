// NaN/Inf counting: branch-free loops over the exponent bits, which the
// compiler vectorizes (AVX2: 8 fp32 or 16 fp16 values per instruction).
#include "core/finite.h"

#include <cstring>

namespace gpt2q {
namespace {

template <typename Bits, bool (*kBad)(Bits)>
NonFiniteCount Count(const void* bytes, int64_t n) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, p + i * sizeof(Bits), sizeof(Bits));
    count += kBad(b) ? 1 : 0;
  }
  NonFiniteCount out;
  out.count = count;
  for (int64_t i = 0; count > 0 && i < n; ++i) {
    Bits b;
    std::memcpy(&b, p + i * sizeof(Bits), sizeof(Bits));
    if (kBad(b)) {
      out.first = i;
      break;
    }
  }
  return out;
}

}  // namespace

NonFiniteCount CountNonFiniteF32(const void* bytes, int64_t n) {
  return Count<uint32_t, IsNonFiniteF32Bits>(bytes, n);
}
NonFiniteCount CountNonFiniteF16(const void* bytes, int64_t n) {
  return Count<uint16_t, IsNonFiniteF16Bits>(bytes, n);
}
NonFiniteCount CountNonFiniteBf16(const void* bytes, int64_t n) {
  return Count<uint16_t, IsNonFiniteBf16Bits>(bytes, n);
}

}  // namespace gpt2q
