"""Tokenise every sentence of a split once, into two compact arrays."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from lgformer.errors import LGFormerError
from lgformer.tokenizer import SentenceTokenizer


def tokenize_sentences(
    tokenizer: SentenceTokenizer, sentences: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Sentences -> token ids (N, L) int32 and attention mask (N, L) int8.

    Each distinct string is tokenised once (referring expressions repeat a
    lot). Empty sentences, which the tokenizer refuses for user input, become
    ``[CLS] [SEP]`` as in the released pipeline, so that every sentence of the
    split stays a sample. Truncation is reported by one summary warning.
    """
    length = tokenizer.max_words
    ids = np.zeros((len(sentences), length), dtype=np.int32)
    mask = np.zeros((len(sentences), length), dtype=np.int8)
    cache: dict[str, int] = {}  # sentence -> row already tokenised
    truncated = empty = 0
    probe_ids, probe_mask = tokenizer.encode("a", warn=False)
    cls_id, sep_id = probe_ids[0], probe_ids[sum(probe_mask) - 1]
    pad = length - 2
    empty_row = [cls_id, sep_id] + [0] * pad, [1, 1] + [0] * pad
    for row, sentence in enumerate(sentences):
        seen = cache.get(sentence)
        if seen is not None:
            ids[row], mask[row] = ids[seen], mask[seen]
            continue
        cache[sentence] = row
        try:
            row_ids, row_mask = tokenizer.encode(sentence, warn=False)
        except LGFormerError:
            empty += 1
            row_ids, row_mask = empty_row
        ids[row], mask[row] = row_ids, row_mask
        # A full row whose last id is not [SEP] lost words to truncation.
        truncated += row_mask[-1] == 1 and row_ids[-1] != sep_id
    if truncated:
        warnings.warn(
            f"{truncated} distinct sentences were longer than {length} ids and were truncated "
            "(as in the released pipeline)",
            stacklevel=2,
        )
    if empty:
        warnings.warn(f"{empty} empty sentences were encoded as [CLS] [SEP]", stacklevel=2)
    return ids, mask
