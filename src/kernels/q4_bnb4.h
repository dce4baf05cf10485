// Kernels of the bitsandbytes 4-bit formats (nf4, fp4): threshold quantizer and
// the fused dequantize-and-multiply for rows whose absmax blocks align with rows.
// Codes: two per byte, first value in the high nibble.
#pragma once

#include <cstdint>

namespace gpt2q {

// The 15 decision thresholds between consecutive NF4 codes (bitsandbytes'
// dQuantizeNF4 tree; code = number of thresholds strictly below x).
extern const float kNf4Thresholds[15];
// The 7 thresholds on |x| between FP4 magnitudes, and the magnitude rank → code map.
extern const float kFp4Thresholds[7];
extern const uint8_t kFp4RankToCode[8];

// Packs the codes of x[0..count) · inv_absmax (count even) into count/2 bytes.
// nf4 selects the codebook. Identical to the scalar decision trees.
void Bnb4QuantizeBlock(const float* x, int64_t count, float inv_absmax, bool nf4, uint8_t* out);

// The order in which the streaming kernels read 16 values of one 8-byte code
// group: a 64-bit load shifted right by 4k (lane 2k) and 4k + 32 (lane 2k + 1)
// puts value kBnb4LaneOrder[lane] in each lane, with no shuffles but the table lookup.
extern const int kBnb4LaneOrder[16];
// The order of the AVX2 byte-table kernel (blocks of a multiple of 64): 64
// values from 32 code bytes, looked up as four byte planes of the table
// (_mm256_shuffle_epi8) and interleaved back into floats by unpacks, come out
// as 8 vectors; lane l of vector v holds value kBnb4LaneOrder64[8v + l].
extern const int kBnb4LaneOrder64[64];

// Writes x [n, cols] into xp in the order Bnb4RowDot reads for `block`
// (cols % block == 0): each 64 values in kBnb4LaneOrder64 where the AVX2 kernel
// runs and block % 64 == 0, else each 16 in kBnb4LaneOrder.
void Bnb4PermuteActivations(const float* x, int64_t n, int64_t cols, int64_t block, float* xp);

// One weight row of `cols` values (cols % block == 0, block % 16 == 0) against n
// token rows: y[t·ldy] = Σ_c x[t·ldx + c] · lut[code_c] · absmax[c / block], where
// xp is x permuted by Bnb4PermuteActivations (ldx its row stride).
// `codes` starts at the row's first byte. Picks AVX-512 at run time when present.
void Bnb4RowDot(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                const float* lut16, const float* xp, int64_t n, int64_t ldx, float* y,
                int64_t ldy);
// The scalar reference of Bnb4RowDot on unpermuted x (double accumulation, for tests).
void Bnb4RowDotRef(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                   const float* lut16, const float* x, int64_t n, int64_t ldx, float* y,
                   int64_t ldy);

// Writes the cols dequantized values lut[code_c] · absmax[c / block] of one aligned row.
void Bnb4DequantizeRow(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                       const float* lut16, float* out);

namespace internal {
// Writes x in kBnb4LaneOrder64 (order64) or kBnb4LaneOrder, whichever a kernel
// called directly (tests) reads.
void Bnb4PermuteInOrder(const float* x, int64_t n, int64_t cols, bool order64, float* xp);
// xp in kBnb4LaneOrder64 when block % 64 == 0, else in kBnb4LaneOrder.
void Bnb4RowDotAvx2(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                    const float* lut16, const float* x, int64_t n, int64_t ldx, float* y,
                    int64_t ldy);
// xp in kBnb4LaneOrder.
void Bnb4RowDotAvx512(const uint8_t* codes, const float* absmax, int64_t cols, int64_t block,
                      const float* lut16, const float* x, int64_t n, int64_t ldx, float* y,
                      int64_t ldy);
bool HasAvx512();
}  // namespace internal

}  // namespace gpt2q
