"""Segmenting images from Python: the predictor and visualisation."""

from lgformer.inference.predictor import ReferringSegmenter

__all__ = ["ReferringSegmenter"]
