"""F.pad and F.interpolate against torch."""

import numpy as np
import pytest
import torch.nn.functional as TF
from torch_compare import compare, randn

import ember.nn.functional as F


@pytest.mark.parametrize(
    "pad", [(1, 2), (0, 0, 2, 1), (1, 1, 1, 1), (-1, 2), (2, -1, 0, 1), (1, 2, 0, 1, 1, 0)]
)
@pytest.mark.parametrize("value", [None, 0.5])
def test_pad_constant(pad, value):
    compare(
        lambda x: F.pad(x, pad, value=value),
        lambda x: TF.pad(x, pad, value=value or 0.0),
        [randn(2, 3, 4, 5)],
    )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, 1, 0, 3), (3, 3, 1, 1)])
def test_pad_modes(mode, pad):
    x = randn(2, 3, 5) if len(pad) == 2 else randn(2, 3, 4, 5)  # torch's rank rule
    compare(lambda x: F.pad(x, pad, mode), lambda x: TF.pad(x, pad, mode=mode), [x])


def test_pad_errors():
    with pytest.raises(ValueError, match="ember.pad"):
        F.pad(F.pad.__globals__["tensor"](np.zeros((1, 1, 3))), (3, 0), "reflect")
    with pytest.raises(ValueError, match="ember.pad"):
        F.pad(F.pad.__globals__["tensor"](np.zeros((1, 1, 3))), (1,))


@pytest.mark.parametrize(
    ("mode", "kw"),
    [
        ("nearest", {"scale_factor": 2}),
        ("nearest", {"size": (3, 7)}),
        ("nearest", {"scale_factor": 0.5}),
        ("nearest-exact", {"size": (5, 3)}),
        ("bilinear", {"scale_factor": 2}),
        ("bilinear", {"size": (3, 7)}),
        ("bilinear", {"size": (7, 9), "align_corners": True}),
        ("bilinear", {"scale_factor": 1.7}),
        ("bilinear", {"scale_factor": 0.5, "align_corners": False}),
    ],
)
def test_interpolate_2d(mode, kw):
    compare(
        lambda x: F.interpolate(x, mode=mode, **kw),
        lambda x: TF.interpolate(x, mode=mode, **kw),
        [randn(2, 3, 4, 5)],
        atol=1e-7,
    )


def test_interpolate_1d_3d():
    compare(
        lambda x: F.interpolate(x, scale_factor=3, mode="linear"),
        lambda x: TF.interpolate(x, scale_factor=3, mode="linear"),
        [randn(2, 3, 4)],
        atol=1e-7,
    )
    compare(
        lambda x: F.interpolate(x, size=(3, 4, 5), mode="trilinear", align_corners=True),
        lambda x: TF.interpolate(x, size=(3, 4, 5), mode="trilinear", align_corners=True),
        [randn(1, 2, 2, 3, 4)],
        atol=1e-7,
    )
    compare(
        lambda x: F.interpolate(x, scale_factor=2),
        lambda x: TF.interpolate(x, scale_factor=2),
        [randn(1, 2, 3)],
    )
    with pytest.raises(ValueError, match="ember.interpolate"):
        F.interpolate(
            F.pad.__globals__["tensor"](np.zeros((1, 1, 3))), scale_factor=2, mode="bilinear"
        )
