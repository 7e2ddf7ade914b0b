// CUDA flash attention, forward and backward: the host launchers behind
// csrc/cuda/bind_attention.cpp, which validates every argument first (the kernels trust them).
// Semantics are the CPU kernels' (csrc/cpu/attention/attention.h): q (B, Hq, Tq, D), k, v
// (B, Hkv, Tk, D) addressed through batch / head / sequence strides with unit stride on D,
// query head h reads kv head h / (Hq / Hkv), causal is top-left aligned, a bool mask keeps
// the True keys and an additive one is added to the scaled scores, rows with every key
// masked give zeros (lse = +inf). lse is float32 (B, Hq, Tq), contiguous.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "cuda/attention/attention_plan.h"

namespace ember::cuda::attn {

// A (B, H, T, D) operand: base pointer and element strides of the batch, head and T dims.
struct Operand {
  void* p;
  int64_t sb, sh, st;
};

struct Params {
  int64_t B, Hq, Hkv, Tq, Tk, D;
  double scale;
  bool causal;
  Operand q, k, v, o;  // o: written by the forward, read by the backward
  float* lse;
  MaskKind mask_kind;
  const void* mask;  // uint8 (nonzero = attend), or of the accumulation type (float32 for
                     // 16-bit operands, else the operand dtype), added to the scaled scores
  int64_t smb, smh, smq, smk;
  Operand go, gq, gk, gv;  // backward only
};

// Whether this (dtype, head dim) has kernels (every D in 1..256 for float32 / 16-bit types,
// up to 128 for float64, whose tiles would not fit the shared-memory budget).
bool supported(DType dtype, int64_t D);

// Launch on the current device's legacy stream (the caller set the device). dtype: float32,
// float64, float16 or bfloat16.
void forward(DType dtype, const Params& p, const char* op);
// dQ, dK, dV (overwritten) of p.go; allocates a (B, Hq, Tq) scratch for rowsum(dO * O).
void backward(DType dtype, int device, const Params& p, const char* op);

// Lets `kernel` take `bytes` of dynamic shared memory on the current device (above the
// 48 KiB default); CudaError naming op if the device allows less.
void set_smem(const void* kernel, int64_t bytes, const char* op);

}  // namespace ember::cuda::attn
