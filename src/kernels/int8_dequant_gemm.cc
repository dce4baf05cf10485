// Decode-a-tile-then-SGEMM weight-only multiplication.
#include "kernels/int8_dequant_gemm.h"

#include <cblas.h>

#include <algorithm>

#include "core/scratch_buffer.h"
#include "kernels/blas.h"

namespace gpt2q {

void DecodeTileMultiply(const float* x, int64_t n, int64_t rows, int64_t cols, float* y,
                        ThreadPool& pool, const DecodeRowsFn& decode) {
  const int64_t chunk = OutputChunk(n, rows);
  const int64_t n_chunks = (rows + chunk - 1) / chunk;
  pool.ParallelFor(n_chunks, [&](int64_t c) {
    // Scratch per worker thread, reused across calls (grows to the largest tile).
    thread_local ScratchBuffer scratch;
    const int64_t r0 = c * chunk;
    const int64_t width = std::min(chunk, rows - r0);
    float* tile = scratch.Get<float>(width * cols);
    decode(r0, width, tile);
    if (n == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, width, cols, 1.0f, tile, cols, x, 1, 0.0f, y + r0, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, width, cols, 1.0f, x, cols, tile, cols,
                  0.0f, y + r0, rows);
    }
  });
}

}  // namespace gpt2q
