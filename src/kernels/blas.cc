// OpenBLAS thread control.
#include "kernels/blas.h"

#include <cblas.h>

namespace gpt2q {

void UseSingleThreadedBlas() { openblas_set_num_threads(1); }

}  // namespace gpt2q
