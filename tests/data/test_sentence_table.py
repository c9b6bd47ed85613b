"""tokenize_sentences: the batched split tokenisation equals encoding one by one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lgformer.data.sentence_table import tokenize_sentences
from lgformer.tokenizer import SentenceTokenizer

LONG = "the man " + "who stands next to the tall tree " * 4 + "on the left"
SENTENCES = [
    "the red circle",
    "The RED circle",  # uncased: same ids
    "the red circle",  # repeated
    LONG,
    LONG,
    "",
    "   ",
    "café au lait on the right",
    "a",
]


@pytest.fixture(scope="module")
def tokenizer() -> SentenceTokenizer:
    return SentenceTokenizer(max_words=20)


def test_rows_equal_one_by_one_encoding(tokenizer):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids, mask = tokenize_sentences(tokenizer, SENTENCES)
    assert ids.shape == mask.shape == (len(SENTENCES), 20)
    assert ids.dtype == np.int32 and mask.dtype == np.int8
    cls_sep = tokenizer.encode("a", warn=False)[0]
    cls_sep = [cls_sep[0], cls_sep[2]] + [0] * 18
    for row, sentence in enumerate(SENTENCES):
        if sentence.strip():
            want_ids, want_mask = tokenizer.encode(sentence, warn=False)
        else:
            want_ids, want_mask = cls_sep, [1, 1] + [0] * 18
        np.testing.assert_array_equal(ids[row], want_ids, err_msg=repr(sentence))
        np.testing.assert_array_equal(mask[row], want_mask, err_msg=repr(sentence))
    messages = [str(w.message) for w in caught]
    # Counted once per distinct string: one long sentence, two empty strings.
    assert any(m.startswith("1 distinct sentences were longer than 20") for m in messages)
    assert any(m.startswith("2 empty sentences") for m in messages)


def test_no_sentences(tokenizer):
    ids, mask = tokenize_sentences(tokenizer, [])
    assert ids.shape == mask.shape == (0, 20)
