"""ember.amp: torch's mixed-precision API (``torch.amp``).

``GradScaler`` implements loss scaling for real (scale, unscale, skip inf/NaN steps,
grow and back off). ``autocast`` records the region but ops keep their dtypes (see
``ember.amp.autocast_mode``).
"""

from .autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
