"""Rank 1 raises while rank 0 waits for it in a collective: the job must end."""

import ember
import ember.distributed as dist

dist.init_process_group()
if dist.get_rank() == 1:
    raise ValueError("rank one broke on purpose")
dist.all_reduce(ember.ones(3))
print("rank 0 was never released")
