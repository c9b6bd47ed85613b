"""Datasets, transforms and synthetic scenes."""
