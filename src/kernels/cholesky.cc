// LAPACK's spotrf/spotri (column-major Fortran interface of OpenBLAS; Debian
// ships no LAPACKE header for it) applied to row-major symmetric matrices.
#include "kernels/cholesky.h"

#include <cblas.h>

#include <cstddef>
#include <limits>
#include <string>

extern "C" {
// Fortran LAPACK: the trailing size_t is the hidden length of the CHARACTER
// argument that gfortran-built routines expect; OpenBLAS's C versions ignore it.
void spotrf_(const char* uplo, const blasint* n, float* a, const blasint* lda, blasint* info, size_t uplo_len);
void spotri_(const char* uplo, const blasint* n, float* a, const blasint* lda, blasint* info, size_t uplo_len);
}

namespace gpt2q {

Status InverseCholeskyUpper(float* a, int64_t n) {
  if (n <= 0) return OkStatus();
  if (n > std::numeric_limits<blasint>::max()) {
    return Status::Error("Cholesky: matrix order " + std::to_string(n) + " exceeds the BLAS integer range");
  }
  // A row-major array read as column-major is the transpose: the row-major
  // upper triangle is LAPACK's lower one ('L'), and a column-major lower factor
  // L (a = L·Lᵀ) reads back row-major as the upper U = Lᵀ (a = Uᵀ·U).
  const blasint order = static_cast<blasint>(n);
  const char lower = 'L';
  blasint info = 0;
  spotrf_(&lower, &order, a, &order, &info, 1);
  if (info > 0) {
    return Status::Error("Cholesky: the matrix is not positive definite (leading minor " + std::to_string(info) +
                         " of " + std::to_string(n) + ")");
  }
  if (info < 0) return Status::Error("Cholesky: spotrf rejected argument " + std::to_string(-info));
  spotri_(&lower, &order, a, &order, &info, 1);
  if (info > 0) {
    return Status::Error("Cholesky: the factor is singular (diagonal element " + std::to_string(info) + " is 0)");
  }
  if (info < 0) return Status::Error("Cholesky: spotri rejected argument " + std::to_string(-info));
  spotrf_(&lower, &order, a, &order, &info, 1);
  if (info > 0) {
    return Status::Error("Cholesky: the inverse is not positive definite in fp32 (leading minor " +
                         std::to_string(info) + " of " + std::to_string(n) + ")");
  }
  if (info < 0) return Status::Error("Cholesky: spotrf rejected argument " + std::to_string(-info));
  // The row-major strictly lower triangle still holds the input's values.
  for (int64_t i = 1; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j) a[i * n + j] = 0.0f;
  }
  return OkStatus();
}

}  // namespace gpt2q
