"""Bad conv arguments raise clear errors naming the op or layer and the shapes, before any
kernel runs: groups, kernel vs padded input, ranks, negative padding, channel mismatch,
dtypes, output shapes, CUDA. (Pooling and batch norm: tests/pool, tests/batchnorm.)"""

import ember._C as _C
import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

T = _C.TensorImpl.from_buffer


def _x(*shape):
    return ember.randn(*shape)


def test_groups_not_dividing_channels():
    with pytest.raises(
        ValueError,
        match=r"ember.conv2d: weight .* expects 4 input channels .*"
        r"\(2, 6, 5, 5\) has 6",
    ):
        F.conv2d(_x(2, 6, 5, 5), _x(4, 1, 3, 3), groups=4)
    with pytest.raises(ValueError, match="out_channels 6 .*divisible by groups 4"):
        F.conv2d(_x(2, 8, 5, 5), _x(6, 2, 3, 3), groups=4)
    with pytest.raises(ValueError, match=r"ember.nn.Conv2d: in_channels 6 is not divisible"):
        nn.Conv2d(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match=r"ember.nn.Conv1d: out_channels 5 is not divisible"):
        nn.Conv1d(4, 5, 3, groups=2)


def test_kernel_larger_than_padded_input():
    with pytest.raises(
        ValueError,
        match=r"ember.conv2d: kernel size \(5, 5\).*larger than the "
        r"padded input.*\(1, 2, 3, 3\)",
    ):
        F.conv2d(_x(1, 2, 3, 3), _x(4, 2, 5, 5))
    with pytest.raises(ValueError, match="ember.nn.Conv2d: kernel size"):
        nn.Conv2d(2, 4, 3, dilation=3)(_x(1, 2, 6, 6))
    with pytest.raises(ValueError, match="ember.conv1d: kernel size"):
        F.conv1d(_x(1, 2, 3), _x(4, 2, 5), padding=0)
    F.conv2d(_x(1, 2, 3, 3), _x(4, 2, 5, 5), padding=1)  # fits once padded


def test_wrong_rank():
    with pytest.raises(
        ValueError, match=r"ember.conv2d: expected a 3-D .* or 4-D .*got shape \(5, 5\)"
    ):
        F.conv2d(_x(5, 5), _x(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"ember.nn.Conv2d: expected .*\(1, 1, 1, 5, 5\)"):
        nn.Conv2d(1, 1, 3)(_x(1, 1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"ember.conv2d: expected a 4-D weight"):
        F.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3))


def test_negative_padding_and_bad_arguments():
    with pytest.raises(
        ValueError, match=r"ember.conv2d: padding must be non-negative, got \(-1, -1\)"
    ):
        F.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), padding=-1)
    with pytest.raises(ValueError, match="ember.nn.Conv2d: padding must be non-negative"):
        nn.Conv2d(1, 1, 3, padding=(1, -2))
    with pytest.raises(ValueError, match="stride must be positive"):
        F.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), stride=0)
    with pytest.raises(ValueError, match="dilation must be positive"):
        F.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), dilation=(1, 0))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        F.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be an int, a tuple, 'same' or 'valid'"):
        F.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), padding="full")
    with pytest.raises(ValueError, match="stride must be an int or a tuple of 2 ints"):
        F.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), stride=(1, 2, 3))
    with pytest.raises(ValueError, match="activation must be 'none' or 'relu'"):
        F.conv2d(_x(1, 1, 5, 5), _x(1, 1, 3, 3), activation="gelu")
    with pytest.raises(NotImplementedError, match="padding_mode='reflect'"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")


def test_channel_mismatch():
    with pytest.raises(
        ValueError,
        match=r"ember.conv2d: weight of shape \(4, 3, 3, 3\) expects 3 "
        r"input channels.*\(2, 5, 6, 6\) has 5",
    ):
        F.conv2d(_x(2, 5, 6, 6), _x(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"ember.nn.Conv2d: weight of shape \(4, 3, 3, 3\)"):
        nn.Conv2d(3, 4, 3)(_x(2, 5, 6, 6))
    with pytest.raises(ValueError, match=r"bias of shape \(3,\) does not match out_channels 4"):
        F.conv2d(_x(2, 3, 6, 6), _x(4, 3, 3, 3), _x(3))


def test_dtype_errors():
    with pytest.raises(TypeError, match="ember.conv2d: needs floating-point tensors"):
        F.conv2d(
            ember.zeros(1, 1, 4, 4, dtype=ember.int32), ember.zeros(1, 1, 3, 3, dtype=ember.int32)
        )


def test_binding_checks():
    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    out = np.zeros((1, 3, 4, 4), np.float32)  # wrong: (1, 3, 3, 3)
    with pytest.raises(
        ValueError,
        match=r"ember.conv2d: out has shape \(1, 3, 4, 4\), expected "
        r"\(1, 3, 3, 3\)",
    ):
        _C.conv2d_forward(T(x), T(w), None, T(out), (1, 1), (0, 0), (1, 1), 1)
    out = np.zeros((1, 3, 3, 3), np.float64)
    with pytest.raises(TypeError, match="out has dtype float64, expected float32"):
        _C.conv2d_forward(T(x), T(w), None, T(out), (1, 1), (0, 0), (1, 1), 1)
    out = np.zeros((1, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        _C.conv2d_forward(T(x), T(w), None, T(out), (1, 1), (-1, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="not divisible by groups"):
        _C.conv2d_forward(T(x), T(w), None, T(out), (1, 1), (0, 0), (1, 1), 2)
    xs = T(np.zeros((1, 5, 5, 2), np.float32)).as_strided([1, 2, 5, 5], [50, 1, 10, 2], 0)
    with pytest.raises(ValueError, match="must be contiguous"):
        _C.conv2d_forward(xs, T(w), None, T(out), (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="activation must be 'none' or 'relu', got 'tanh'"):
        _C.conv2d_forward(T(x), T(w), None, T(out), (1, 1), (0, 0), (1, 1), 1, "tanh")
    big = np.zeros(10, np.float32)
    with pytest.raises(
        ValueError, match=r"ember.conv2d: out of shape \(1, 1, 3, 3\) overlaps input"
    ):
        _C.conv2d_forward(
            T(big).as_strided([1, 1, 3, 3], [9, 9, 3, 1], 0),
            T(np.zeros((1, 1, 1, 1), np.float32)),
            None,
            T(big).as_strided([1, 1, 3, 3], [9, 9, 3, 1], 1),
            (1, 1),
            (0, 0),
            (1, 1),
            1,
        )


@pytest.mark.cuda
def test_cuda_not_implemented():
    if not ember.cuda.is_available():
        pytest.skip("no CUDA GPU")
    x = ember.randn(1, 1, 5, 5).cuda()
    w = ember.randn(1, 1, 3, 3).cuda()
    with pytest.raises(NotImplementedError, match="ember.conv2d: not implemented for cuda"):
        F.conv2d(x, w)
