"""ember.amp: torch's mixed-precision API (``torch.amp``).

``GradScaler`` implements loss scaling for real (scale, unscale, skip inf/NaN steps,
grow and back off). ``autocast`` runs the matrix products and attention in
bfloat16 (float16) and the losses in float32 inside its region (see
``ember.amp.autocast_mode``).
"""

from .autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
