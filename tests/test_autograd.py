"""Autograd engine: graph building, accumulation, retain_graph, grad modes, in-place rules."""

import numpy as np
import pytest

import ember
from ember.autograd import Function, GradcheckError, gradcheck


def test_simple_chain_and_accumulation():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x + x * 3).sum()  # x used three times
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1, 2, 3]) + 3)
    (x * 2).sum().backward()  # accumulates
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1, 2, 3]) + 5)
    assert x.is_leaf and y.grad_fn is not None and not y.is_leaf


def test_diamond_graph_topological_order():
    x = ember.tensor(2.0, requires_grad=True)
    a = x * 3
    b = a.exp()
    c = a * a
    (b + c).backward()
    want = 3 * np.exp(6.0) + 2 * 6 * 3
    assert abs(x.grad.item() - want) / want < 1e-6


def test_non_scalar_backward_needs_gradient():
    x = ember.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(ember.tensor([1.0, 2.0, 3.0]))
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(ember.ones(2))


def test_retain_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    z = (x * x).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


def test_no_grad_context_and_decorator():
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None

    @ember.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert ember.is_grad_enabled()
    with ember.no_grad():
        with ember.enable_grad():
            assert (x * 2).requires_grad
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad


def test_detach_and_requires_grad_():
    x = ember.ones(2, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    y = ember.ones(2).requires_grad_()
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="floating"):
        ember.ones(2, dtype=ember.int64).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad = False


def test_inplace_on_leaf_requiring_grad_is_an_error():
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1
    with ember.no_grad():
        x += 1  # an optimizer step
    assert x.tolist() == [2.0, 2.0, 2.0]


def test_inplace_on_intermediate_rebases_history():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y += 1
    y *= ember.tensor([3.0, 4.0])
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 8.0]


def test_inplace_modification_of_saved_tensor_detected():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    y += 1
    with pytest.raises(RuntimeError, match="in-place"):
        z.sum().backward()


def test_setitem_with_autograd():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = ember.tensor(5.0, requires_grad=True)
    y = x * 1
    y[1] = v * 2
    (y * ember.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 100.0]
    assert v.grad.item() == 20.0


def test_custom_function():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    x = ember.tensor([1.0, -2.0], dtype=ember.float64, requires_grad=True)
    assert gradcheck(Cube.apply, (x,))
    assert "CubeBackward" in repr(Cube.apply(x))


def test_gradcheck_catches_a_wrong_gradient():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2x * g

    x = ember.tensor([1.0, 3.0], dtype=ember.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="mismatch"):
        gradcheck(Wrong.apply, (x,))
    assert not gradcheck(Wrong.apply, (x,), raise_exception=False)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, (ember.ones(2, requires_grad=True),))


def test_grad_flows_through_views_and_dtype_casts():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda t: t.T[1:, ::2].reshape(-1) * 2, (x,))
    assert gradcheck(lambda t: t.permute(1, 0).contiguous() ** 2, (x,))
    y = ember.randn(4, requires_grad=True)
    (y.half().float() * 2).sum().backward()
    assert y.grad.tolist() == [2.0] * 4


def test_multiple_outputs_with_one_used():
    x = ember.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], dtype=ember.float64, requires_grad=True)
    values, _ = x.max(dim=1)
    values.sum().backward()
    assert x.grad.tolist() == [[0, 1, 0], [0, 0, 1]]
    a, b = x.split(2, dim=1)
    (b * 3).sum().backward()
    assert x.grad.tolist() == [[0, 1, 3], [0, 0, 4]]
