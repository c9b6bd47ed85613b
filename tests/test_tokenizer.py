import warnings

import pytest

from lgformer.errors import LGFormerError
from lgformer.tokenizer import SentenceTokenizer, default_vocab_path


def test_ids_match_the_released_pipeline():
    ids, mask = SentenceTokenizer()(["the man on the left"])
    assert ids[0, :7].tolist() == [101, 1996, 2158, 2006, 1996, 2187, 102]
    assert ids[0, 7:].tolist() == [0] * 13
    assert mask[0].tolist() == [1] * 7 + [0] * 13
    assert ids.dtype.is_floating_point is False and ids.shape == (1, 20)


def test_uncased_and_vocab_file_give_same_ids():
    from_dir = SentenceTokenizer()
    from_file = SentenceTokenizer(default_vocab_path() / "vocab.txt")
    assert from_file.vocab_size == 30522
    a, _ = from_dir(["The MAN, on the Left!"])
    b, _ = from_file(["the man, on the left!"])
    assert a.tolist() == b.tolist()


def test_long_sentences_are_truncated_with_a_warning_and_lose_sep():
    tok = SentenceTokenizer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids, mask = tok(["the " * 40])
    assert any("truncated" in str(w.message) for w in caught)
    assert ids[0, 0] == 101 and ids[0, -1] == 1996 and 102 not in ids[0].tolist()
    assert mask.sum() == 20


@pytest.mark.parametrize("bad", ["", "   ", "\n"])
def test_empty_sentences_are_rejected(bad):
    with pytest.raises(LGFormerError, match="empty sentence"):
        SentenceTokenizer()([bad])


def test_missing_vocab_file_is_clear(tmp_path):
    with pytest.raises(LGFormerError, match="not found"):
        SentenceTokenizer(tmp_path / "vocab.txt")


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\x00", "\u0301", "\u200b \u200c"])
def test_sentences_the_tokenizer_reads_as_nothing_are_rejected(invisible):
    # A zero-width space or a control character survives str.strip() but has no word
    # piece: without the check the model would silently get [CLS] [SEP].
    with pytest.raises(LGFormerError, match="empty sentence"):
        SentenceTokenizer()([invisible])


def test_unicode_sentences_keep_their_words():
    ids, mask = SentenceTokenizer()(["the café\u200b man 🙂"])
    assert ids[0, : int(mask.sum())].tolist() == [101, 1996, 7668, 2158, 100, 102]


@pytest.mark.parametrize("max_words", [0, 1, 2])
def test_fewer_than_three_slots_are_refused(max_words):
    with pytest.raises(ValueError, match="at least 3"):
        SentenceTokenizer(max_words=max_words)
    with pytest.warns(UserWarning, match="truncated to 3"):
        ids, _ = SentenceTokenizer(max_words=3)(["the dog"])
    assert ids.tolist() == [[101, 1996, 3899]]  # [CLS] the dog: the [SEP] is cut off


def test_sentences_with_no_known_word_warn():
    tok = SentenceTokenizer()
    with pytest.warns(UserWarning, match=r"no word of '🐶🐶' is in the vocabulary"):
        ids, mask = tok.encode("🐶🐶")
    assert sum(mask) == 3  # [CLS] [UNK] [SEP]: still runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok.encode("the dog 🐶")  # one known word is enough
        tok.encode("🐶🐶", warn=False)
