// Hot loops compiled twice, for AVX2 and for the baseline, the copy chosen
// when the program starts by the CPU alone. The AVX2 target has no fused
// multiply-adds, so both copies give the same bits.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KRRDISTILL_VECTOR_COPIES __attribute__((target_clones("avx2", "default")))
#else
#define KRRDISTILL_VECTOR_COPIES
#endif
