"""Write docs/torch_coverage.md: which PyTorch names ember has.

Two views per namespace (torch, torch.nn.functional, Tensor methods, torch.nn modules,
torch.optim): a curated list of the names typical training scripts use, each marked
present or missing, and the count over the whole public namespace of the installed
torch. Run from the repository root with torch installed:

    PYTHONPATH=python python tools/torch_coverage.py
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch

import ember
import ember.nn.functional

# The names that appear in typical training scripts (pytorch/examples, nanoGPT, minGPT,
# makemore, common tutorials), by namespace.
COMMON = {
    "torch": """
        tensor as_tensor from_numpy zeros ones full empty zeros_like ones_like full_like
        empty_like rand randn randint randperm rand_like randn_like randint_like arange
        linspace logspace eye manual_seed seed initial_seed get_rng_state set_rng_state
        Generator multinomial bernoulli normal cat concat stack split chunk unbind squeeze
        unsqueeze reshape flatten transpose permute movedim narrow gather scatter
        scatter_add index_select masked_select where tril triu roll flip tile
        repeat_interleave meshgrid diag topk sort argsort msort kthvalue cumsum cumprod sum
        mean std var var_mean std_mean prod max min amax amin argmax argmin logsumexp
        softmax log_softmax norm abs exp log log1p expm1 sqrt rsqrt sin cos tanh sigmoid
        relu clamp clip clamp_min clamp_max pow square sign floor ceil round trunc
        reciprocal add sub mul div matmul mm bmm addmm baddbmm einsum outer dot
        isclose allclose isnan isinf isfinite eq ne lt le gt ge equal logical_and logical_or
        logical_not any all nonzero argwhere count_nonzero numel is_tensor
        is_floating_point no_grad enable_grad set_grad_enabled inference_mode
        is_grad_enabled save load float32 float64 float16 bfloat16 int64 int32 int8 bool
        long float double half device dtype get_default_dtype set_default_dtype
        set_num_threads get_num_threads from_dlpack broadcast_to
        cdist erf lerp maximum minimum one_hot clone detach autocast compile
    """,
    "torch.nn.functional": """
        relu gelu silu tanh sigmoid softmax log_softmax softplus elu leaky_relu hardtanh
        relu6 mish selu celu hardswish hardsigmoid logsigmoid softsign glu linear conv1d
        conv2d conv_transpose2d max_pool2d avg_pool2d adaptive_avg_pool2d
        adaptive_max_pool2d dropout embedding one_hot layer_norm batch_norm group_norm
        rms_norm normalize pad interpolate cross_entropy nll_loss mse_loss l1_loss
        smooth_l1_loss huber_loss binary_cross_entropy binary_cross_entropy_with_logits
        kl_div cosine_similarity scaled_dot_product_attention unfold
    """,
    "Tensor": """
        size shape dim ndim numel dtype device item tolist numpy to cpu cuda float double
        half long int bool type type_as contiguous is_contiguous view view_as reshape
        reshape_as flatten squeeze unsqueeze permute transpose t T mT expand expand_as
        repeat repeat_interleave narrow split chunk unbind gather scatter scatter_
        scatter_add index_select masked_fill masked_fill_ fill_ zero_ copy_ clone detach
        detach_ requires_grad requires_grad_ grad grad_fn is_leaf backward data add sub
        mul div pow add_ sub_ mul_ div_ clamp clamp_ clamp_min clamp_max abs exp log sqrt
        rsqrt tanh sigmoid relu softmax log_softmax sum mean std var prod max min amax
        amin argmax argmin cumsum cumprod topk sort argsort tril triu roll flip
        matmul mm bmm norm new_zeros new_ones new_full new_empty new_tensor uniform_
        normal_ bernoulli multinomial eq ne lt le gt ge any all nonzero isnan isfinite
        allclose where element_size stride storage_offset data_ptr apply_
        masked_scatter_ exponential_ log1p
    """,
    "torch.nn": """
        Module Parameter Sequential ModuleList ModuleDict ParameterList ParameterDict
        Linear Conv1d Conv2d ConvTranspose2d BatchNorm1d BatchNorm2d LayerNorm GroupNorm
        RMSNorm Dropout Embedding LSTM GRU RNN LSTMCell GRUCell RNNCell Transformer
        TransformerEncoder TransformerEncoderLayer TransformerDecoder
        TransformerDecoderLayer MultiheadAttention ReLU GELU SiLU Tanh Sigmoid Softmax
        LogSoftmax ELU LeakyReLU Softplus Mish Hardtanh ReLU6 SELU CELU GLU Hardswish
        Identity Flatten MaxPool2d AvgPool2d AdaptiveAvgPool2d CrossEntropyLoss NLLLoss
        MSELoss L1Loss SmoothL1Loss HuberLoss BCELoss BCEWithLogitsLoss KLDivLoss
        Upsample
    """,
    "torch.optim": """
        SGD Adam AdamW RMSprop Adagrad Adadelta Adamax NAdam RAdam ASGD LBFGS SparseAdam
        Optimizer lr_scheduler
    """,
}

NAMESPACES = {
    "torch": (torch, ember),
    "torch.nn.functional": (torch.nn.functional, ember.nn.functional),
    "Tensor": (torch.Tensor, ember.Tensor),
    "torch.nn": (torch.nn, ember.nn),
    "torch.optim": (torch.optim, ember.optim),
}


def _public(obj: object, namespace: str) -> set[str]:
    """The public names of a torch namespace: callables (and classes), no dunders."""
    names = set()
    for name in dir(obj):
        if name.startswith("_"):
            continue
        value = getattr(obj, name, None)
        if namespace == "torch.nn" and not (
            inspect.isclass(value) and issubclass(value, torch.nn.Module)
        ):
            continue
        if namespace == "torch.optim" and not inspect.isclass(value):
            continue
        if namespace in ("torch", "torch.nn.functional") and not callable(value):
            continue
        names.add(name)
    return names


def _has(ember_obj: object, name: str) -> bool:
    return hasattr(ember_obj, name)


def main() -> None:
    out = ["# PyTorch coverage", ""]
    out.append(
        "Generated by `tools/torch_coverage.py` against torch "
        f'{torch.__version__.split("+")[0]}: do not edit by hand. "Common" is a curated list '
        'of the names typical training scripts use; "all" counts every public callable of '
        "the namespace (classes for `torch.nn` modules and `torch.optim`). A name counts "
        "as present when ember has an attribute of that name; its semantics are covered by "
        "the tests (`tests/parity/` compares them with torch)."
    )
    out += [
        "",
        "| namespace | common: present / listed | all: present / public |",
        "| --- | --- | --- |",
    ]
    tables = []
    for ns, (t_obj, e_obj) in NAMESPACES.items():
        common = sorted(set(COMMON[ns].split()))
        everything = _public(t_obj, ns) | set(common)
        have_common = [n for n in common if _has(e_obj, n)]
        have_all = [n for n in everything if _has(e_obj, n)]
        out.append(
            f"| `{ns}` | {len(have_common)} / {len(common)} | {len(have_all)} / {len(everything)} |"
        )
        rows = [f"## `{ns}`", "", "| name | ember |", "| --- | --- |"]
        rows += [f"| `{n}` | {'yes' if _has(e_obj, n) else '**missing**'} |" for n in common]
        missing = [n for n in common if not _has(e_obj, n)]
        rows += [
            "",
            f"Missing from the common list: {', '.join(f'`{n}`' for n in missing) or 'none'}.",
            "",
        ]
        tables += rows
    out += [""] + tables
    path = Path(__file__).resolve().parent.parent / "docs" / "torch_coverage.md"
    path.write_text("\n".join(out).rstrip() + "\n")
    print(f"wrote {path}")
    print("\n".join(line for line in out[: out.index("## `torch`")] if line.startswith("| `")))


if __name__ == "__main__":
    main()
