"""float64 numpy implementations of the documented update rules (torch.optim docs; Lion
from Chen et al. 2023, Algorithm 2), written independently of ember for the tests."""

from __future__ import annotations

import numpy as np

DEFAULTS = {
    "SGD": dict(
        lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False
    ),
    "Adagrad": dict(
        lr=1e-2,
        lr_decay=0.0,
        weight_decay=0.0,
        initial_accumulator_value=0.0,
        eps=1e-10,
        maximize=False,
    ),
    "RMSprop": dict(
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0.0,
        momentum=0.0,
        centered=False,
        maximize=False,
    ),
    "Adam": dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False
    ),
    "AdamW": dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False
    ),
    "Lion": dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False),
}


class Reference:
    """One optimizer over a list of float64 arrays; step(grads) with None = no grad."""

    def __init__(self, kind: str, params: list[np.ndarray], **hyper):
        self.kind = kind
        self.h = {**DEFAULTS[kind], **hyper}
        self.params = [np.array(p, dtype=np.float64) for p in params]
        self.state: list[dict] = [{} for _ in params]
        if kind == "Adagrad":
            for p, st in zip(self.params, self.state):
                st["step"] = 0
                st["sum"] = np.full_like(p, self.h["initial_accumulator_value"])

    def step(self, grads: list) -> None:
        for i, g in enumerate(grads):
            if g is None:
                continue
            g = np.asarray(g, dtype=np.float64)
            getattr(self, "_" + self.kind.lower())(i, self.params[i], g, self.state[i])

    def _sgd(self, i, p, g, st):
        h = self.h
        if h["maximize"]:
            g = -g
        if h["weight_decay"] != 0:
            g = g + h["weight_decay"] * p
        if h["momentum"] != 0:
            if "momentum_buffer" not in st:
                st["momentum_buffer"] = g.copy()
            else:
                st["momentum_buffer"] = (
                    h["momentum"] * st["momentum_buffer"] + (1 - h["dampening"]) * g
                )
            buf = st["momentum_buffer"]
            g = g + h["momentum"] * buf if h["nesterov"] else buf
        self.params[i] = p - h["lr"] * g

    def _adagrad(self, i, p, g, st):
        h = self.h
        st["step"] += 1
        if h["maximize"]:
            g = -g
        if h["weight_decay"] != 0:
            g = g + h["weight_decay"] * p
        clr = h["lr"] / (1 + (st["step"] - 1) * h["lr_decay"])
        st["sum"] = st["sum"] + g * g
        self.params[i] = p - clr * g / (np.sqrt(st["sum"]) + h["eps"])

    def _rmsprop(self, i, p, g, st):
        h = self.h
        if not st:
            st["step"] = 0
            st["square_avg"] = np.zeros_like(p)
            if h["momentum"] > 0:
                st["momentum_buffer"] = np.zeros_like(p)
            if h["centered"]:
                st["grad_avg"] = np.zeros_like(p)
        st["step"] += 1
        if h["maximize"]:
            g = -g
        if h["weight_decay"] != 0:
            g = g + h["weight_decay"] * p
        a = h["alpha"]
        st["square_avg"] = a * st["square_avg"] + (1 - a) * g * g
        if h["centered"]:
            st["grad_avg"] = st["grad_avg"] + (1 - a) * (g - st["grad_avg"])
            avg = np.sqrt(st["square_avg"] - st["grad_avg"] ** 2) + h["eps"]
        else:
            avg = np.sqrt(st["square_avg"]) + h["eps"]
        if h["momentum"] > 0:
            st["momentum_buffer"] = h["momentum"] * st["momentum_buffer"] + g / avg
            self.params[i] = p - h["lr"] * st["momentum_buffer"]
        else:
            self.params[i] = p - h["lr"] * g / avg

    def _adam(self, i, p, g, st, decoupled=False):
        h = self.h
        b1, b2 = h["betas"]
        if not st:
            st["step"] = 0
            st["exp_avg"] = np.zeros_like(p)
            st["exp_avg_sq"] = np.zeros_like(p)
            if h["amsgrad"]:
                st["max_exp_avg_sq"] = np.zeros_like(p)
        st["step"] += 1
        t = st["step"]
        if h["maximize"]:
            g = -g
        if decoupled:
            p = p * (1 - h["lr"] * h["weight_decay"])
        elif h["weight_decay"] != 0:
            g = g + h["weight_decay"] * p
        st["exp_avg"] = b1 * st["exp_avg"] + (1 - b1) * g
        st["exp_avg_sq"] = b2 * st["exp_avg_sq"] + (1 - b2) * g * g
        v = st["exp_avg_sq"]
        if h["amsgrad"]:
            st["max_exp_avg_sq"] = np.maximum(st["max_exp_avg_sq"], v)
            v = st["max_exp_avg_sq"]
        m_hat = st["exp_avg"] / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        self.params[i] = p - h["lr"] * m_hat / (np.sqrt(v_hat) + h["eps"])

    def _adamw(self, i, p, g, st):
        self._adam(i, p, g, st, decoupled=True)

    def _lion(self, i, p, g, st):
        h = self.h
        b1, b2 = h["betas"]
        if not st:
            st["exp_avg"] = np.zeros_like(p)
        if h["maximize"]:
            g = -g
        p = p * (1 - h["lr"] * h["weight_decay"])
        update = np.sign(b1 * st["exp_avg"] + (1 - b1) * g)
        self.params[i] = p - h["lr"] * update
        st["exp_avg"] = b2 * st["exp_avg"] + (1 - b2) * g
