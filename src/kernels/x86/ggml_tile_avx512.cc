// AVX-512 VNNI build of the ggml matmul tiles (_mm256_dpbusd_epi32 on 256-bit
// vectors, AVX512-VL): one instruction per 32 u8×s8 products.
#define GPT2Q_GGML_VNNI 1
#include "kernels/x86/ggml_tile_impl.h"

namespace gpt2q::internal {

void GgmlTileVnni(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t nb, int64_t rows,
                  const uint8_t* act, int64_t act_stride, int64_t n, float* y, int64_t ldy) {
  GgmlTileImpl(type, w, row_bytes, nb, rows, act, act_stride, n, y, ldy);
}

}  // namespace gpt2q::internal
