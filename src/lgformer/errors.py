"""Errors for bad user input: the CLI prints them as one clear line."""


class LGFormerError(ValueError):
    """Bad input (file, sentence, checkpoint, dataset) with an actionable message."""


class CheckpointMismatchError(LGFormerError):
    """A checkpoint whose keys or shapes do not fit the model being loaded."""
