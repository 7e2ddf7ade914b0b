"""Device and precision switches CPU scripts still call: they exist, store what they are
given, and keep torch's semantics where there are any (RNG, grad mode)."""

import warnings

import numpy as np
import pytest

import ember


def test_cuda_seeding_leaves_the_cpu_stream_alone():
    ember.manual_seed(7)
    a = ember.rand(4).numpy()
    ember.manual_seed(7)
    ember.cuda.manual_seed_all(123)
    ember.cuda.manual_seed(5)
    np.testing.assert_array_equal(ember.rand(4).numpy(), a)  # as torch.cuda.manual_seed*
    with pytest.raises(TypeError, match="manual_seed_all"):
        ember.cuda.manual_seed_all("1")


def test_accelerator():
    assert ember.accelerator.is_available() == ember.cuda.is_available()
    current = ember.accelerator.current_accelerator()
    assert current == (ember.device("cuda") if ember.cuda.is_built() else None)
    if not ember.cuda.is_available():
        assert ember.accelerator.current_accelerator(check_available=True) is None
        assert ember.accelerator.device_count() == 0


def test_backend_flags_are_stored():
    cudnn, matmul = ember.backends.cudnn, ember.backends.cuda.matmul
    saved = (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, matmul.precision)
    try:
        cudnn.benchmark = True
        cudnn.deterministic = True
        cudnn.allow_tf32 = False
        assert (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == (True, True, False)
        assert not cudnn.is_available() and not ember.backends.mps.is_available()
        # allow_tf32 and the float32 matmul precision are one setting, as in torch
        matmul.allow_tf32 = True
        assert ember.get_float32_matmul_precision() == "high"
        ember.set_float32_matmul_precision("highest")
        assert matmul.allow_tf32 is False
        ember.set_float32_matmul_precision("medium")
        matmul.allow_tf32 = True
        assert ember.get_float32_matmul_precision() == "medium"
        with pytest.raises(ValueError, match="highest"):
            ember.set_float32_matmul_precision("low")
    finally:
        cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, matmul.precision = saved


def test_inference_mode_as_context_and_decorator():
    x = ember.ones(2, requires_grad=True)
    assert not ember.is_inference_mode_enabled()
    with ember.inference_mode():
        assert ember.is_inference_mode_enabled() and not ember.is_grad_enabled()
        assert not (x * 2).requires_grad
        with ember.inference_mode(False):
            assert ember.is_grad_enabled() and not ember.is_inference_mode_enabled()
    assert ember.is_grad_enabled() and not ember.is_inference_mode_enabled()

    @ember.inference_mode()
    def f(t):
        return t * 2, ember.is_inference_mode_enabled()

    @ember.inference_mode
    def g(t):
        return t * 2

    y, flag = f(x)
    assert flag and not y.requires_grad and not g(x).requires_grad
    assert ember.is_grad_enabled()


def test_inference_mode_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        seen = []
        with lib.no_grad(), lib.inference_mode(False):
            seen.append(lib.is_grad_enabled())
        with lib.inference_mode(), lib.enable_grad():
            seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        if lib is torch:
            expected = seen
    assert seen == expected


def test_autocast_records_the_region():
    x = ember.ones(2, 3)
    w = ember.ones(3, 4)
    assert not ember.is_autocast_enabled("cpu")
    assert ember.get_autocast_dtype("cpu") == ember.bfloat16
    with ember.autocast("cpu", dtype=ember.float16):
        assert ember.is_autocast_enabled("cpu") and not ember.is_autocast_enabled()
        assert ember.get_autocast_dtype("cpu") == ember.float16
        assert (x @ w).dtype == ember.float16  # products run in the region's dtype
        with ember.amp.autocast("cpu", enabled=False):
            assert not ember.is_autocast_enabled("cpu")
        assert ember.is_autocast_enabled("cpu")
    assert not ember.is_autocast_enabled("cpu")

    @ember.autocast(device_type="cpu")
    def f():
        return ember.is_autocast_enabled("cpu")

    assert f() and not ember.is_autocast_enabled("cpu")


def test_autocast_disables_itself_as_torch_does():
    with pytest.warns(UserWarning, match="not an autocast dtype"):
        region = ember.autocast("cpu", dtype=ember.float64)
    with region:
        assert not ember.is_autocast_enabled("cpu")
    if not ember.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            ember.autocast("cuda")
        with pytest.warns(UserWarning, match="CUDA is not available"):
            ember.cuda.amp.autocast()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.autocast("cuda", enabled=False)
    with pytest.raises(RuntimeError, match="device_type"):
        ember.autocast("xpu")
    with pytest.raises(ValueError, match="device_type"):
        ember.autocast(ember.device("cpu"))


def test_compile_returns_the_model():
    model = ember.nn.Linear(2, 2)
    assert ember.compile(model) is model
    assert ember.compile(model, mode="max-autotune", fullgraph=True) is model

    @ember.compile
    def f(x):
        return x + 1

    @ember.compile(mode="reduce-overhead")
    def g(x):
        return x + 2

    assert f(1) == 2 and g(1) == 3
    with pytest.raises(TypeError, match="module or function"):
        ember.compile(3)
