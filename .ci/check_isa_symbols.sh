#!/usr/bin/env bash
# The one-definition trap (docs/architecture.md): an inline or template function compiled into
# an AVX-512 object and also elsewhere becomes one weak symbol, and the linker may keep the
# AVX-512 copy for everyone. ISA objects (the kernel sources CMake compiles once per ISA, in
# the ember_isa_<isa> object libraries) may only define weak symbols inside their own
# namespace (ember::avx512 / ember::avx2), which no other object can share. The GEMMs' shared
# AMX object (ember_amx, AVX-512 + AMX flags) may define no weak symbol at all.
set -euo pipefail
root=${1:-build}
found=0
bad=0
while IFS= read -r obj; do
  found=$((found + 1))
  case "$obj" in
    *ember_amx.dir/*) ns="no namespace" ;;  # no weak symbol allowed
    *) ns="ember::$(echo "$obj" | sed -E 's/.*ember_isa_(avx512|avx2)\.dir\/.*/\1/')::" ;;
  esac
  leaks=$(gcc-nm -C "$obj" | grep -E ' [WVu] ' | grep -vF "$ns" || true)
  if [ -n "$leaks" ]; then
    echo "weak symbols outside ${ns} in $obj:"
    echo "$leaks"
    bad=1
  fi
done < <(find "$root" -path '*ember_isa_avx512.dir/*.o' -o -path '*ember_isa_avx2.dir/*.o' \
  -o -path '*ember_amx.dir/*.o')
if [ "$found" -eq 0 ]; then
  echo "no ISA objects found under $root" >&2
  exit 1
fi
echo "checked $found ISA objects"
exit $bad
