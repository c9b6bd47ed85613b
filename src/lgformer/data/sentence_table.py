"""Tokenise every sentence of a split once, into two compact arrays."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

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
    truncated: set[str] = set()
    empty: set[object] = set()
    probe_ids, probe_mask = tokenizer.encode("a", warn=False)
    cls_id, sep_id = probe_ids[0], probe_ids[sum(probe_mask) - 1]
    # Each distinct non-empty string once, all in one batched tokenizer call.
    distinct = list(dict.fromkeys(s for s in sentences if isinstance(s, str) and s.strip()))
    encoded = {s: row for s, row in zip(distinct, tokenizer.raw_ids(distinct), strict=True)}
    for row, sentence in enumerate(sentences):
        row_ids = encoded.get(sentence) if isinstance(sentence, str) else None
        if row_ids is None:  # empty: [CLS] [SEP]
            empty.add(sentence if isinstance(sentence, str) else repr(sentence))
            row_ids = [cls_id, sep_id]
        elif len(row_ids) > length:
            truncated.add(sentence)
            row_ids = row_ids[:length]
        ids[row, : len(row_ids)] = row_ids
        mask[row, : len(row_ids)] = 1
    if truncated:
        warnings.warn(
            f"{len(truncated)} distinct sentences were longer than {length} ids and were truncated "
            "(as in the released pipeline)",
            stacklevel=2,
        )
    if empty:
        warnings.warn(f"{len(empty)} empty sentences were encoded as [CLS] [SEP]", stacklevel=2)
    return ids, mask
