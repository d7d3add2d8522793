// Hot loops compiled three times, for AVX-512, AVX2 and the baseline, the
// copy chosen when the program starts by the CPU alone. The library is
// built without contracting a product and a sum into a fused multiply-add
// (-ffp-contract=off; AVX-512 has them), so every copy gives the same bits.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KRRDISTILL_VECTOR_COPIES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KRRDISTILL_VECTOR_COPIES
#endif
