"""ModelFileError: the one exception for a weights, checkpoint or model file that can't
be loaded."""

from __future__ import annotations

import os
from pathlib import Path


class ModelFileError(ValueError):
    """A weights, checkpoint or model-folder file that cannot be loaded. The message names
    the file, the tensor at fault (when one is) and what was expected; ``path`` and
    ``tensor`` hold the first two."""

    def __init__(self, path: str | os.PathLike, reason: str, tensor: str | None = None):
        self.path, self.reason, self.tensor = Path(path), reason, tensor
        at = f" (tensor {tensor!r})" if tensor is not None else ""
        super().__init__(f"ember: can't load {path}{at}: {reason}")

    def __reduce__(self) -> tuple:
        return type(self), (self.path, self.reason, self.tensor)
