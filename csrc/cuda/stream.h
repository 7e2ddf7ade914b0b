// The stream ember's kernels go to: per thread and device, the legacy default stream
// unless `with ember.cuda.stream(s):` chose another. ember's own streams are created
// blocking, so they order against the legacy default stream both ways: work queued there
// (and the synchronous cudaMemcpy that reads results back) waits for theirs, and theirs
// waits for what was queued there before. Every launch, async copy and memset names
// current_stream(); the allocator keeps a freed block for reuse on the stream it was
// allocated on.
#pragma once
#include <cuda_runtime.h>

namespace ember::cuda {

// The current device's current stream (nullptr: the legacy default stream).
cudaStream_t current_stream();
cudaStream_t current_stream(int device);
// Make `stream` current on `device` for this thread (nullptr: back to the default).
void set_current_stream(int device, cudaStream_t stream);
// One of the device's pooled streams, round robin (created on first use, never
// destroyed, as torch's pool: a stream a tensor's block is keyed on never goes away).
cudaStream_t pooled_stream(int device, int priority);

}  // namespace ember::cuda
