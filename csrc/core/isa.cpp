#include "core/isa.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>

#if defined(__linux__) && defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/error.h"

namespace ember {
namespace {

bool detect(Isa isa) {
  switch (isa) {
    case Isa::Generic:
      return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
  }
  return false;
}

std::atomic<int> g_isa{-1};

constexpr unsigned kAmxInt8 = 1u << 25, kAmxBf16 = 1u << 22;

// Why AMX feature bit `feature` (cpuid 7.0 EDX) is not usable, or null (isa.h).
const char* detect_amx(unsigned feature) {
#if defined(__linux__) && defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE))
    return "the OS does not enable XSAVE";
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return "the CPU lacks AMX";
  const unsigned amx_tile = 1u << 24;
  if ((edx & (amx_tile | feature)) != (amx_tile | feature))
    return feature == kAmxInt8 ? "the CPU lacks AMX-INT8" : "the CPU lacks AMX-BF16";
  // xgetbv in asm: this file is built with baseline flags (no -mxsave for _xgetbv).
  uint32_t xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const uint32_t xtilecfg = 1u << 17, xtiledata = 1u << 18;
  if ((xcr0_lo & (xtilecfg | xtiledata)) != (xtilecfg | xtiledata))
    return "the OS does not enable the AMX tile state (XCR0)";
  // Linux (5.16+) hands out the 8 KiB tile state per process on request; without it the
  // first tile instruction faults. Asked once for both features.
  static const bool granted = [] {
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  if (!granted) return "Linux refused the AMX tile data permission (arch_prctl)";
  return nullptr;
#else
  (void)feature;
  return "AMX is used on x86-64 Linux only";
#endif
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic:
      return "generic";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "?";
}

bool isa_available(Isa isa) {
  static const bool avail[kNumIsas] = {detect(Isa::Generic), detect(Isa::Avx2),
                                       detect(Isa::Avx512)};
  return avail[static_cast<int>(isa)];
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (int i = kNumIsas - 1; i >= 0; --i)
    if (isa_available(static_cast<Isa>(i))) out.push_back(static_cast<Isa>(i));
  return out;
}

Isa best_isa() { return available_isas().front(); }

Isa current_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(best_isa());
    g_isa.store(v);
  }
  return static_cast<Isa>(v);
}

Isa parse_isa(const std::string& name) {
  for (int i = 0; i < kNumIsas; ++i)
    if (name == isa_name(static_cast<Isa>(i))) return static_cast<Isa>(i);
  throw ValueError(
      cat_str("ember: unknown CPU ISA '", name, "' (expected one of: avx512, avx2, generic)"));
}

void set_isa(Isa isa) {
  if (!isa_available(isa)) {
    std::string avail;
    for (Isa a : available_isas()) avail += (avail.empty() ? "" : ", ") + std::string(isa_name(a));
    throw ValueError(cat_str("ember: CPU ISA '", isa_name(isa),
                             "' is not available on this CPU (available: ", avail, ")"));
  }
  g_isa.store(static_cast<int>(isa));
}

void init_isa_from_env() {
  const char* env = std::getenv("EMBER_CPU_ISA");
  if (env && *env) {
    try {
      set_isa(parse_isa(env));
    } catch (const ValueError& e) {
      throw ValueError(cat_str("EMBER_CPU_ISA=", env, ": ", e.what()));
    }
  } else {
    current_isa();
  }
}

bool cpu_has_avx512_bf16() { return __builtin_cpu_supports("avx512bf16"); }
bool cpu_has_avx512_vnni() { return __builtin_cpu_supports("avx512vnni"); }
bool cpu_bf16_dot_full_rate() {
  static const bool amd = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
    return ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u;  // "AuthenticAMD"
  }();
  return amd;
}
const char* cpu_amx_missing(AmxFeature f) {
  static const char* const missing[2] = {detect_amx(kAmxInt8), detect_amx(kAmxBf16)};
  return missing[static_cast<int>(f)];
}

}  // namespace ember
