"""Parameters without a gradient: an error naming them, or (find_unused_parameters)
grad None where no rank used them and the average where one did. Prints 'ok <rank>'."""

import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group()
r, w = dist.get_rank(), dist.get_world_size()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(3, 2)
        self.never = nn.Linear(3, 2)
        self.odd = nn.Linear(3, 2)  # only the odd ranks use it

    def forward(self, x, with_odd):
        y = self.used(x)
        return y + self.odd(x) if with_odd else y


ember.manual_seed(0)
x = ember.full((4, 3), float(r + 1))
ddp = DDP(Net())
try:
    ddp(x, False).sum().backward()
except RuntimeError as e:
    assert "never.weight" in str(e) and "find_unused_parameters=True" in str(e), e
else:
    raise AssertionError("no error for unused parameters")

ember.manual_seed(0)
net = Net()
ddp = DDP(net, find_unused_parameters=True)
ddp(x, r % 2 == 1).sum().backward()
assert net.never.weight.grad is None and net.never.bias.grad is None
# d(sum)/dW of a linear layer: every row is the column sum of x, 4 * (r + 1) per entry
expect_used = np.mean([4.0 * (k + 1) for k in range(w)])
expect_odd = np.sum([4.0 * (k + 1) for k in range(w) if k % 2 == 1]) / w
np.testing.assert_allclose(net.used.weight.grad.numpy(), np.full((2, 3), expect_used))
np.testing.assert_allclose(net.odd.weight.grad.numpy(), np.full((2, 3), expect_odd))
print("ok", r)
