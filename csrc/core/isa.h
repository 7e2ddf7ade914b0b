// Runtime ISA dispatch. Each kernel family keeps a table of function pointers
// per ISA (see e.g. cpu/elementwise/elementwise.h) and indexes it with
// current_isa(). The ISA is chosen once at import from cpuid, or forced with
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

}  // namespace ember
