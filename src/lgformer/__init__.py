"""LGFormer: linguistic query-guided mask generation for referring image segmentation."""

from lgformer.config import LGFormerConfig, build_config

__version__ = "0.1.0"

__all__ = ["LGFormerConfig", "build_config", "__version__"]
