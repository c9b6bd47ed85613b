"""The small LGFormer shipped inside the package, trained on the synthetic benchmark.

Reproduce it with ``bash scripts/train_bundled_model.sh`` (see the README).
"""

from __future__ import annotations

from pathlib import Path

from lgformer.errors import LGFormerError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
BUNDLED_WEIGHTS = WEIGHTS_DIR / "synthetic_small.safetensors"
# The synthetic benchmark renders scenes at this side ...
SCENE_SIZE = 160
# ... and the bundled model was trained on them resized to this input size.
BUNDLED_IMAGE_SIZE = 128


def bundled_weights_path() -> Path:
    if not BUNDLED_WEIGHTS.is_file():
        raise LGFormerError(
            f"bundled weights missing at {BUNDLED_WEIGHTS}; reinstall the package or "
            "rebuild them with scripts/train_bundled_model.sh"
        )
    return BUNDLED_WEIGHTS
