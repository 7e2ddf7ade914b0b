// Threading and scratch of the AMX tile loop (amx.h).
#include "cpu/amx/amx.h"

#include "core/parallel.h"
#include "cpu/driver_util.h"

namespace ember::cpu {

void amx_blocks(AmxRunFn run, const AmxJob& job) {
  const int64_t ldb = amx_abuf_ld(job.kbytes);
  const int64_t panels = cdiv(job.n, kAmxPanelChannels);
  const int64_t tasks = cdiv(job.m, kAmxTaskRows) * cdiv(panels, kAmxTaskPanels);
  const int64_t cost = kAmxTaskRows * kAmxTaskPanels * kAmxPanelChannels * ldb;
  parallel_chunks(tasks, 1, cost, [&](int64_t b, int64_t e) {
    thread_local Scratch abuf, tails;
    run(job, b, e, static_cast<uint8_t*>(abuf.get(kAmxBlockRows * ldb)),
        static_cast<uint8_t*>(tails.get(kAmxTaskPanels * kAmxTileBytes)));
  });
}

}  // namespace ember::cpu
