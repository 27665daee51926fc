"""The gin configurable through which `distill.serve` receives the model gin's `MODEL`.

Kept in its own module so it is registered exactly once per process, even when
`distill.serve` runs as `__main__`.
"""

from __future__ import annotations

from typing import Any

import gin


@gin.configurable(module="distill.serve")
def served_model(model: Any = gin.REQUIRED) -> Any:
    """Bound as `distill.serve.served_model.model = %MODEL`."""
    return model
