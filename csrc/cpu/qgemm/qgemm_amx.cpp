// AMX path of the int8 GEMM (qgemm_amx.h): the on/off state.
#include "cpu/qgemm/qgemm_amx.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/isa.h"

namespace ember::cpu {
namespace {

std::atomic<bool> g_amx_enabled{[] {
  const char* env = std::getenv("EMBER_QGEMM_AMX");
  return !(env && std::strcmp(env, "0") == 0);
}()};

}  // namespace

bool qgemm_amx_available() {
#ifdef EMBER_HAVE_AMX_BUILD
  return cpu_amx_missing(AmxFeature::Int8) == nullptr;
#else
  return false;
#endif
}

bool qgemm_amx_enabled() { return g_amx_enabled.load(std::memory_order_relaxed); }
void qgemm_set_amx_enabled(bool enabled) { g_amx_enabled.store(enabled); }

}  // namespace ember::cpu
