"""ember.onnx: export a model to ONNX by tracing its forward pass (``export``, with
torch.onnx.export's signature). Needs the ``onnx`` package (the ``onnx`` extra).

>>> ember.onnx.export(model, (idx,), "model.onnx", input_names=["idx"],
...                   output_names=["logits"], dynamic_axes={"idx": [0, 1]})
"""

try:
    import onnx  # noqa: F401
except ImportError as e:  # an optional extra: say how to get it
    raise ImportError("ember.onnx needs the onnx package: pip install 'ember[onnx]'") from e

from .export import export
from .graph import ExportError

__all__ = ["ExportError", "export"]
