"""Bad input to the optimizers gives clear errors before anything is updated."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.optim as optim
from ember import nn

KINDS = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Lion"]


def param(n=3, dtype=ember.float32):
    return nn.Parameter(ember.ones(n, dtype=dtype))


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_hyperparameter(kind):
    with pytest.raises(TypeError, match=f"{kind}.__init__.. got an unexpected keyword"):
        getattr(optim, kind)([param()], lr=0.1, momentun=0.9)
    with pytest.raises(TypeError, match="unexpected keyword"):
        getattr(optim, kind)([param()], capturable=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key", ["lr", "weight_decay", "eps"])
def test_negative_values(kind, key):
    opt_cls = getattr(optim, kind)
    if key == "eps" and kind in ("SGD", "Lion"):
        return
    with pytest.raises(ValueError, match=rf"ember\.optim\.{kind}: invalid .*-0\.5"):
        opt_cls([param()], **{key: -0.5})
    with pytest.raises(ValueError, match=rf"ember\.optim\.{kind}: invalid"):
        opt_cls([param()], **{key: float("nan")})
    # the same check applies to a group's own value
    with pytest.raises(ValueError, match=rf"ember\.optim\.{kind}: invalid"):
        opt_cls([{"params": [param()], key: -1.0}])


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "Lion"])
@pytest.mark.parametrize("betas", [(1.0, 0.9), (0.9, 1.0), (-0.1, 0.9), (0.9, 1.5)])
def test_betas_outside_unit_interval(kind, betas):
    i = 0 if not 0 <= betas[0] < 1 else 1
    with pytest.raises(ValueError, match=f"invalid beta parameter at index {i}"):
        getattr(optim, kind)([param()], betas=betas)


def test_betas_type_and_other_hyperparameters():
    with pytest.raises(TypeError, match="betas"):
        optim.Adam([param()], betas=0.9)
    with pytest.raises(TypeError, match="lr must be a number"):
        optim.Adam([param()], lr="0.1")
    with pytest.raises(TypeError, match="amsgrad must be a bool"):
        optim.Adam([param()], amsgrad="yes")
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([param()], momentum=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        optim.RMSprop([param()], momentum=-0.1)
    with pytest.raises(ValueError, match="alpha"):
        optim.RMSprop([param()], alpha=-0.1)
    with pytest.raises(ValueError, match="lr_decay"):
        optim.Adagrad([param()], lr_decay=-0.1)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        optim.Adagrad([param()], initial_accumulator_value=-1.0)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match=r"ember\.optim\.SGD: Nesterov momentum requires"):
        optim.SGD([param()], nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([param()], momentum=0.9, dampening=0.1, nesterov=True)
    optim.SGD([param()], momentum=0.9, nesterov=True)


def test_params_not_tensors():
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray"):
        optim.SGD([param(), np.ones(3)])
    with pytest.raises(TypeError, match="got a Tensor"):
        optim.SGD(param())
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(3)
    with pytest.raises(TypeError, match="set"):
        optim.SGD({param()})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="param_group must be a dict"):
        optim.Adam([param()]).add_param_group([param()])


def test_duplicates():
    a, b = param(), param()
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": [a, b]}, {"params": [b]}])
    opt = optim.Adam([a])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="same parameter twice"):
        optim.SGD([a, b, a])
    assert len(opt.param_groups) == 1


def test_dtypes_layouts_and_leaves():
    with pytest.raises(TypeError, match="int64"):
        optim.Adam([nn.Parameter(ember.ones(3)), ember.ones(3, dtype=ember.int64)])
    with pytest.raises(TypeError, match="float16"):
        optim.SGD([ember.ones(3, dtype=ember.float16)])
    x = ember.ones((4, 6))
    with pytest.raises(ValueError, match="not contiguous"):
        optim.SGD([x.T])
    y = ember.ones(3, requires_grad=True) * 2.0
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([y])
    # a grad of the wrong shape or dtype is caught by the kernel binding, p untouched
    p = param(4)
    opt = optim.Adam([p], lr=0.1)
    p.grad = ember.ones(5)
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(5,\)"):
        opt.step()
    p.grad = ember.ones(4, dtype=ember.float64)
    with pytest.raises(TypeError, match="float64"):
        opt.step()
    assert (p.detach().numpy() == 1).all()


def test_load_state_dict_validation():
    a, b = param(3), param(4)
    opt = optim.Adam([a, b])
    a.grad, b.grad = ember.ones(3), ember.ones(4)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="1 parameter groups, the optimizer has 2"):
        optim.Adam([{"params": [param(3)]}, {"params": [param(4)]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.Adam([param(3)]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"state\[1\]\['exp_avg'\] has shape \(4,\)"):
        optim.Adam([param(3), param(5)]).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        optim.Adam([param(3)]).load_state_dict({"state": {}})
    bad = {"state": sd["state"], "param_groups": [dict(sd["param_groups"][0], lr=-1.0)]}
    target = optim.Adam([param(3), param(4)])
    with pytest.raises(ValueError, match="learning rate"):
        target.load_state_dict(bad)
    assert target.param_groups[0]["lr"] == 1e-3 and not target.state
