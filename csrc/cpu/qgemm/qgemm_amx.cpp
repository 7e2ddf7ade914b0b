// AMX path of the int8 GEMM (qgemm_amx.h): threading, scratch and the on/off state.
#include "cpu/qgemm/qgemm_amx.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/driver_util.h"

namespace ember::cpu {
namespace {

std::atomic<bool> g_amx_enabled{[] {
  const char* env = std::getenv("EMBER_QGEMM_AMX");
  return !(env && std::strcmp(env, "0") == 0);
}()};

int64_t task_count(const QgemmAmxJob& job) {
  const int64_t panels = cdiv(job.n, kQgemmAmxPanelChannels);
  return cdiv(job.m, kAmxTaskRows) * cdiv(panels, kAmxTaskPanels);
}

}  // namespace

void qgemm_amx_blocks(QgemmAmxRunFn run, const QgemmAmxJob& job) {
  const int64_t ldb = qgemm_amx_abuf_ld(job.k);
  const int64_t cost = kAmxTaskRows * kAmxTaskPanels * kQgemmAmxPanelChannels * ldb;
  parallel_chunks(task_count(job), 1, cost, [&](int64_t b, int64_t e) {
    thread_local Scratch abuf, tails;
    run(job, b, e, static_cast<uint8_t*>(abuf.get(kAmxBlockRows * ldb)),
        static_cast<int8_t*>(tails.get(kAmxTaskPanels * kQgemmAmxTileBytes)));
  });
}

bool qgemm_amx_available() {
#ifdef EMBER_HAVE_AMX_BUILD
  return cpu_has_amx_int8();
#else
  return false;
#endif
}

bool qgemm_amx_enabled() { return g_amx_enabled.load(std::memory_order_relaxed); }
void qgemm_set_amx_enabled(bool enabled) { g_amx_enabled.store(enabled); }

}  // namespace ember::cpu
