// AMX-BF16 path of the bf16 GEMM: the product on TDPBF16PS tiles through the AMX tile loop
// shared with the int8 GEMM (cpu/amx/amx.h). Per matrix, B is packed whole into panels of 16
// channels holding pairs of k (a B tile row: 16 channels x 2 bf16), A rows are copied per
// block of 32 (any strides), each 32 x 32 output block accumulates all of K in fp32 tiles
// and goes through the current ISA's GEMM epilogue (alpha, beta, bias, activation).
#pragma once
#include <cstdint>
#include <string>

#include "cpu/amx/amx.h"
#include "cpu/gemm/gemm.h"

namespace ember::cpu {

// gemm_bf16's product with the tile loop `run` (amx_hw_run_dpbf16ps, or the software model
// amx_model_run_dpbf16ps).
void gemm_bf16_amx(AmxRunFn run, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const GemmOperand<uint16_t>& a, const GemmOperand<uint16_t>& b, float beta,
                   const GemmOut<float>& c, const float* bias, GemmAct act);

// Null when the AMX-BF16 hardware path can run here (the build has the AMX object, the CPU
// has AMX-BF16, the OS granted the tile state), else why not.
const char* gemm_bf16_amx_missing();

// Runs the tile loop `run` on a small GEMM whose every partial sum is exact and compares it
// with the widen path: empty when equal, else what differed (gemm.cpp; the auto choice runs
// it once on the hardware loop before using it).
std::string gemm_bf16_amx_self_check(AmxRunFn run);

}  // namespace ember::cpu
