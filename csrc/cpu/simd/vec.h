// The Vec API of the ISA a kernel source is being compiled for. CMake compiles each family's
// *_kernels.cpp once per ISA with -DEMBER_ISA_NS=<isa> -DEMBER_ISA_<ISA> (ember_add_isa_kernels);
// the source includes this header first (it may wrap <immintrin.h>) and puts everything it
// defines inside namespace ember::EMBER_ISA_NS, so no inline or template definition is shared
// between ISA objects (the one-definition trap, docs/architecture.md).
#pragma once
#if defined(EMBER_ISA_AVX512)
#include "cpu/simd/vec_avx512.h"
#elif defined(EMBER_ISA_AVX2)
#include "cpu/simd/vec_avx2.h"
#elif defined(EMBER_ISA_GENERIC)
#include "cpu/simd/vec_generic.h"
#elif defined(EMBER_ISA_F64)
#include "cpu/simd/vec_f64.h"
#else
#error \
    "cpu/simd/vec.h is for kernel sources compiled per ISA (ember_add_isa_kernels in CMakeLists.txt)"
#endif
