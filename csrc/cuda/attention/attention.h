// CUDA flash attention, forward and backward: the host launchers behind
// csrc/cuda/bind_attention.cpp, which validates every argument first (the kernels trust them).
// Semantics are the CPU kernels' (csrc/cpu/attention/attention.h): q (B, Hq, Tq, D), k, v
// (B, Hkv, Tk, D) addressed through batch / head / sequence strides with unit stride on D,
// query head h reads kv head h / (Hq / Hkv), causal is top-left aligned, a bool mask keeps
// the True keys and an additive one is added to the scaled scores, rows with every key
// masked give zeros (lse = +inf). lse is (B, Hq, Tq), contiguous, of the accumulation type
// (float64 for float64, else float32).
// Kernels: attention_fwd.cu (SIMT forward; float16 / bfloat16 at D <= 128 on the tensor
// cores, attention_fwd_mma.cuh), attention_bwd.cu (SIMT backward; the same 16-bit cases on
// the tensor cores, attention_bwd_mma.cuh), attention_mma.cuh (their shared mma.sync
// pieces), attention_varlen.cpp (packed sequences); attention_plan.h holds the tiling
// arithmetic the CPU tests check.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "cuda/attention/attention_plan.h"
#include "cuda/scratch.h"

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
  void* lse;           // of the accumulation type A: float64 for float64, else float32
  MaskKind mask_kind;
  const void* mask;  // uint8 (nonzero = attend), or of the accumulation type (float32 for
                     // 16-bit operands, else the operand dtype), added to the scaled scores
  int64_t smb, smh, smq, smk;
  Operand go, gq, gk, gv;  // backward only
  // Variable-length attention (B = 1, Tq / Tk the packed totals), else null: device copies of
  // the S + 1 offsets of each side and the launch's (sequence, tile) items (varlen_items).
  const int64_t* cu_q;
  const int64_t* cu_k;
  const int64_t* items_q;  // forward and dQ: tiles of kRows queries
  const int64_t* items_k;  // dK / dV: tiles of kRows keys
};

// Whether this (dtype, head dim) has kernels (every D in 1..256 for float32 / 16-bit types,
// up to 128 for float64, whose tiles would not fit the shared-memory budget).
bool supported(DType dtype, int64_t D);

// Blocks of the forward / dQ launches and of the dK / dV launch: B * Hq (B * Hkv) per tile of
// kRows queries (keys), or Hq (Hkv) per varlen work item.
int64_t query_blocks(const Params& p);
int64_t key_blocks(const Params& p);

// Launch on the current device's current stream (the caller set the device). dtype: float32,
// float64, float16 or bfloat16.
void forward(DType dtype, const Params& p, int64_t q_blocks, const char* op);
// dQ, dK, dV (overwritten) of p.go; allocates a (B, Hq, Tq) scratch for rowsum(dO * O).
void backward(DType dtype, int device, const Params& p, int64_t q_blocks, int64_t kv_blocks,
              const char* op);

// The varlen forms: cu_q / cu_k are the host's S + 1 offsets (validated by the caller); they
// and the work items are copied to device scratch for the launches.
void varlen_forward(DType dtype, int device, Params p, const int64_t* cu_q, const int64_t* cu_k,
                    int64_t S, const char* op);
void varlen_backward(DType dtype, int device, Params p, const int64_t* cu_q, const int64_t* cu_k,
                     int64_t S, const char* op);

// Lets `kernel` take `bytes` of dynamic shared memory on the current device (above the
// 48 KiB default); CudaError naming op if the device allows less.
void set_smem(const void* kernel, int64_t bytes, const char* op);

}  // namespace ember::cuda::attn
