// Cholesky-based inverse of a symmetric positive definite matrix, through the
// LAPACK routines OpenBLAS ships (spotrf, spotri); GPTQ's Hinv.
#pragma once

#include <cstdint>

#include "core/status.h"

namespace gpt2q {

// Replaces the symmetric positive definite n×n row-major matrix `a` by the
// upper-triangular U with UᵀU = a⁻¹ (the strictly lower triangle is set to 0):
// Cholesky factor, inverse from the factor, Cholesky factor of the inverse, as
// torch.linalg.cholesky / cholesky_inverse / cholesky(upper=True) do it. fp32.
// Only the upper triangle of `a` is read. Runs on the calling thread when
// OpenBLAS is single-threaded (UseSingleThreadedBlas), so results do not
// depend on the pool. Returns an error naming the leading minor that is not
// positive definite (the factor of a or of a⁻¹); `a` is then unspecified.
Status InverseCholeskyUpper(float* a, int64_t n);

}  // namespace gpt2q
