"""The LGFormer network, one component per file."""

from lgformer.model.lgformer import LGFormer, LGFormerOutput, build_lgformer

__all__ = ["LGFormer", "LGFormerOutput", "build_lgformer"]
