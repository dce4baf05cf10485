// AVX2 build of the ggml matmul tiles (maddubs + madd).
#define GPT2Q_GGML_VNNI 0
#include "kernels/x86/ggml_tile_impl.h"

namespace gpt2q::internal {

void GgmlTileAvx2(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t nb, int64_t rows,
                  const uint8_t* act, int64_t act_stride, int64_t n, float* y, int64_t ldy) {
  GgmlTileImpl(type, w, row_bytes, nb, rows, act, act_stride, n, y, ldy);
}

}  // namespace gpt2q::internal
