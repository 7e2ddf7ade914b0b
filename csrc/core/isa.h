// Runtime ISA dispatch. Each kernel family has one kernel source compiled once per ISA
// (ember_add_isa_kernels in CMakeLists.txt), which defines a table of function pointers in
// namespace ember::<isa>; EMBER_ISA_TABLES declares them and isa_table() picks the current
// ISA's. The ISA is chosen once at import from cpuid, or forced with
// EMBER_CPU_ISA=avx512|avx2|generic; tests switch it with set_isa().
#pragma once
#include <string>
#include <vector>

namespace ember {

enum class Isa : int { Generic = 0, Avx2 = 1, Avx512 = 2 };
constexpr int kNumIsas = 3;

const char* isa_name(Isa isa);
bool isa_available(Isa isa);
std::vector<Isa> available_isas();
Isa best_isa();
Isa current_isa();
// Throws ValueError for unknown names and unavailable ISAs.
void set_isa(Isa isa);
Isa parse_isa(const std::string& name);
// Apply EMBER_CPU_ISA if set (called once from module init).
void init_isa_from_env();
// Extra CPU features later kernels may use (AVX-512 BF16 / VNNI).
bool cpu_has_avx512_bf16();
bool cpu_has_avx512_vnni();
// Whether vdpbf16ps issues at the fp32 FMA rate, so a bf16 GEMM on it is about twice as fast
// as fp32: AMD's AVX512_BF16 parts (Zen 4: 1.9x our fp32 GEMM at 2048). Intel's issue it at
// half rate (Sapphire Rapids: 0.62x), where widening bf16 to fp32 while packing is faster.
bool cpu_bf16_dot_full_rate();
// AMX features. One is usable by this process when the CPU has AMX-TILE and it (cpuid 7.0
// EDX bit 24, and 25 for INT8 or 22 for BF16), the OS saves the tile state (XCR0 bits 17, 18)
// and, on Linux, granted this process the tile data permission (arch_prctl
// ARCH_REQ_XCOMP_PERM, requested once). Off Linux it is never usable.
enum class AmxFeature : int { Int8 = 0, Bf16 = 1 };
// Null when `f` is usable, else why not (a static sentence).
const char* cpu_amx_missing(AmxFeature f);

// The table of the current ISA among one family's per-ISA tables (driver code only: an ISA
// object must not instantiate it, see the one-definition trap in docs/architecture.md).
template <class Table>
const Table& isa_table(const Table& generic, const Table& avx2, const Table& avx512) {
  switch (current_isa()) {
    case Isa::Avx512:
      return avx512;
    case Isa::Avx2:
      return avx2;
    case Isa::Generic:
      break;
  }
  return generic;
}

}  // namespace ember

// Declares the per-ISA definitions of `const Type name` that a family's kernel source
// provides (at global scope, after Type is declared).
#define EMBER_ISA_TABLES(Type, name) \
  namespace ember::generic {         \
  extern const Type name;            \
  }                                  \
  namespace ember::avx2 {            \
  extern const Type name;            \
  }                                  \
  namespace ember::avx512 {          \
  extern const Type name;            \
  }
// The current ISA's `name` among those EMBER_ISA_TABLES declared.
#define EMBER_ISA_TABLE(name) \
  ::ember::isa_table(::ember::generic::name, ::ember::avx2::name, ::ember::avx512::name)
