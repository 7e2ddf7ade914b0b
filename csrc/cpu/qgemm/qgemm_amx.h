// AMX-INT8 path of the int8 GEMM (qgemm.h): the same product computed with TDPBUSD tiles by
// the shared AMX tile loop (cpu/amx/amx.h). The packed weight layout needs no change: for a
// group g of 4 k, a panel holds the 4 bytes of each of its 16 channels, 64 bytes, which is
// one row of a TDPBUSD B tile.
#pragma once
#include <cstdint>

#include "cpu/amx/amx.h"

namespace ember::cpu {

// The AMX hardware path: built in, the CPU has AMX-INT8 and the OS granted the tile state.
bool qgemm_amx_available();
// Whether the int8 GEMM may use AMX (default: yes unless EMBER_QGEMM_AMX=0 at import).
bool qgemm_amx_enabled();
void qgemm_set_amx_enabled(bool enabled);

}  // namespace ember::cpu
