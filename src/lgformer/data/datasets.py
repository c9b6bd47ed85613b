"""PyTorch datasets over a ``ReferSplit``: training (one sentence per object) and evaluation.

Both return dicts::

    image           (3, S, S) float32, Pillow-bilinear resized, ImageNet-normalised
    token_ids       (L,) int64 BERT ids
    attention_mask  (L,) int64, 1 for real ids
    target          (S, S) float32 0/1, the mask resized with nearest
    ref_id, sent_id int
    index           int, the sample's position in the dataset

the training dataset with ``categories`` also::

    categories      (S, S) int64 category label of every pixel (0 = background)

the evaluation dataset also ``image_id`` (int), and with ``keep_original=True``::

    orig_mask       (H, W) bool at the image's own resolution (sizes differ per sample)
    orig_size       (2,) int64 (H, W)

Batch them with ``collate_samples``, which stacks what has a common shape and
keeps ``orig_mask`` as a list, or evaluation items with ``collate_shared_images``,
which also sends each image once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lgformer.data.categories import ImageCategories
from lgformer.data.image_io import load_rgb
from lgformer.data.refer import ReferRef, ReferSplit
from lgformer.data.transforms import DEFAULT_SIZE, normalize, resize_image, resize_mask
from lgformer.errors import LGFormerError


class ReferEvalDataset(Dataset):
    """Every sentence of every ref is one sample, in file order (spec section 9).

    Consecutive samples share a ref, and consecutive refs often share an image, so
    the last ``cache_refs`` prepared masks and images are kept (per worker process):
    an image is decoded and resized once for all the sentences of all its refs that
    come together, and those samples share their image and mask tensors (do not
    modify items in place). Items also carry ``image_id``; ``collate_shared_images``
    batches each image once.

    Args:
        split: the loaded split (``load_refer``).
        image_size: S, the square model input size (480 in the paper).
        keep_original: also return the full-resolution mask, for
            ``--resolution original``.
        cache_refs: how many prepared refs (and images) to keep.
    """

    def __init__(
        self,
        split: ReferSplit,
        *,
        image_size: int = DEFAULT_SIZE,
        keep_original: bool = False,
        cache_refs: int = 8,
    ) -> None:
        self.split = split
        self.image_size = image_size
        self.keep_original = keep_original
        self._masks: OrderedDict[int, dict[str, Any]] = OrderedDict()  # by ref index
        self._images: OrderedDict[int, torch.Tensor] = OrderedDict()  # by image id
        self._cache_refs = cache_refs

    def __len__(self) -> int:
        return self.split.num_sentences

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        ref_index = int(self.split.sent_ref[index])
        image_id = self.split.refs[ref_index].image_id
        item = {"image": self._image(ref_index, image_id), "image_id": image_id}
        item.update(self._mask_fields(ref_index))
        item.update(_sentence_fields(self.split, index))
        item["index"] = index
        return item

    def _image(self, ref_index: int, image_id: int) -> torch.Tensor:
        return _cached(
            self._images,
            image_id,
            lambda: normalize(decode_image(self.split, ref_index, self.image_size)),
            self._cache_refs,
        )

    def _mask_fields(self, ref_index: int) -> dict[str, Any]:
        return _cached(
            self._masks,
            ref_index,
            lambda: mask_fields(self.split, ref_index, self.image_size, self.keep_original),
            self._cache_refs,
        )


def _cached(store: OrderedDict, key: int, make: Callable[[], Any], size: int) -> Any:
    """``store[key]``, made by ``make()`` on a miss; the least recently used of more
    than ``size`` entries goes."""
    hit = store.get(key)
    if hit is not None:
        store.move_to_end(key)
        return hit
    value = store[key] = make()
    if len(store) > size:
        store.popitem(last=False)
    return value


class ReferTrainDataset(Dataset):
    """One sample per referred object; each epoch draws one of its sentences at random.

    The draw depends only on ``(seed, epoch, index)``, so it is reproducible and
    identical in every worker and process. The epoch lives in shared memory,
    so ``set_epoch`` also reaches persistent DataLoader workers; call it before
    iterating the epoch.

    With ``shuffle_sentences`` the sentences are dealt out across samples by a
    seeded permutation, new each epoch: sample ``i`` keeps its image and mask but
    gets a sentence of ref ``perm[i]``. The words then say (almost) nothing about
    the target - the text-blind control of the synthetic benchmark.

    Args:
        split: the loaded split (``load_refer``).
        image_size: S, the square model input size (480 in the paper).
        seed: the base seed of the sentence draws.
        shuffle_sentences: permute the sentence assignment across samples per epoch.
        categories: when given, items also carry the image's per-pixel category labels
            (the auxiliary category loss).
        cache_decoded: keep every resized image, target and object map in memory after
            its first use (3 S^2 bytes per image, S^2 per object map and per object), so
            later epochs skip decoding, rasterising and resizing. Items are the same
            either way.
    """

    def __init__(
        self,
        split: ReferSplit,
        *,
        image_size: int = DEFAULT_SIZE,
        seed: int = 0,
        shuffle_sentences: bool = False,
        categories: ImageCategories | None = None,
        cache_decoded: bool = False,
    ) -> None:
        self.split = split
        self.image_size = image_size
        self.seed = seed
        self.shuffle_sentences = shuffle_sentences
        self.categories = categories
        self.cache_decoded = cache_decoded
        # With cache_decoded: resized uint8 images and object maps per image id, bool
        # targets per ref (filled on first use; each loader worker holds its own).
        self._images: dict[int, np.ndarray] = {}
        self._instance_maps: dict[int, np.ndarray] = {}
        self._targets: dict[int, np.ndarray] = {}
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._perm: tuple[int, np.ndarray] | None = None  # (epoch, permutation) cache

    def set_epoch(self, epoch: int) -> None:
        """Choose the sentences of ``epoch`` (a non-negative int)."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def sentence_source(self, index: int) -> int:
        """The ref whose sentence sample ``index`` gets this epoch (itself unless shuffled)."""
        if not self.shuffle_sentences:
            return index
        epoch = self.epoch
        if self._perm is None or self._perm[0] != epoch:
            # A stream apart from the per-sample draws: the key has one more entry.
            rng = np.random.default_rng((self.seed, epoch, len(self), 1))
            self._perm = (epoch, rng.permutation(len(self)))
        return int(self._perm[1][index])

    def sentence_index(self, index: int) -> int:
        """The row (in ``split.sentences``) drawn for sample ``index`` this epoch."""
        ref = self.split.refs[self.sentence_source(index)]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        return ref.first_sentence + int(rng.integers(ref.num_sentences))

    def __len__(self) -> int:
        return len(self.split.refs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        ref = self.split.refs[index]
        rgb = self._cached(
            self._images, ref.image_id, lambda: decode_image(self.split, index, self.image_size)
        )
        target = self._cached(
            self._targets, index, lambda: resize_mask(self.split.mask(index), self.image_size)
        )
        item = _input_fields(rgb, target, ref.ref_id)
        item.update(_sentence_fields(self.split, self.sentence_index(index)))
        if self.categories is not None:
            item.update(self._category_fields(ref))
        item["index"] = index
        return item

    def _cached(
        self, store: dict[int, np.ndarray], key: int, make: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """``make()``, kept in ``store`` under ``key`` when ``cache_decoded``."""
        if not self.cache_decoded:
            return make()
        value = store.get(key)
        if value is None:
            value = store[key] = make()
        return value

    def _category_fields(self, ref: ReferRef) -> dict[str, torch.Tensor]:
        """``categories`` (S, S) int64 of ``ref``'s image, read off its object map."""
        categories = self.categories
        assert categories is not None
        instances = self._cached(
            self._instance_maps, ref.image_id, lambda: self._instance_map(ref)
        ).astype(np.int64, copy=False)
        return {"categories": torch.from_numpy(categories.object_labels(ref.image_id)[instances])}

    def _instance_map(self, ref: ReferRef) -> np.ndarray:
        """(S, S) int64 object map of ``ref``'s image; uint8 (an eighth of the memory) when
        it is to be cached and fits."""
        assert self.categories is not None
        instances = self.categories.instance_map(
            ref.image_id, ref.height, ref.width, self.image_size
        )
        if self.cache_decoded and instances.max(initial=0) <= np.iinfo(np.uint8).max:
            instances = instances.astype(np.uint8)
        return instances


def decode_image(split: ReferSplit, ref_index: int, image_size: int) -> np.ndarray:
    """The (S, S, 3) uint8 image of one ref, Pillow-bilinear resized.

    Raises:
        LGFormerError: unreadable, or not the size instances.json gives.
    """
    ref = split.refs[ref_index]
    # Annotations refer to the stored pixels, so EXIF orientation is not applied
    # (the released pipeline opens images with Image.open(...).convert("RGB")).
    rgb = load_rgb(ref.image_path, exif_transpose=False)  # (H, W, 3)
    if rgb.shape[:2] != (ref.height, ref.width):
        raise LGFormerError(
            f"image {ref.image_path} is {rgb.shape[1]}x{rgb.shape[0]} but instances.json "
            f"says {ref.width}x{ref.height}"
        )
    return resize_image(rgb, image_size)


def mask_fields(
    split: ReferSplit, ref_index: int, image_size: int, keep_original: bool
) -> dict[str, Any]:
    """The mask fields of one ref: ``target`` (S, S) float32, ``ref_id`` and, with
    ``keep_original``, ``orig_mask`` and ``orig_size`` (see the module docstring)."""
    ref = split.refs[ref_index]
    mask = split.mask(ref_index)  # (H, W) bool
    out: dict[str, Any] = {
        "target": torch.from_numpy(resize_mask(mask, image_size).astype(np.float32)),
        "ref_id": ref.ref_id,
    }
    if keep_original:
        out["orig_mask"] = torch.from_numpy(mask)
        out["orig_size"] = torch.tensor([ref.height, ref.width], dtype=torch.int64)
    return out


def _input_fields(rgb: np.ndarray, target: np.ndarray, ref_id: int) -> dict[str, Any]:
    """(S, S, 3) uint8 image and (S, S) bool target -> the model-input fields."""
    return {
        "image": normalize(rgb),  # (3, S, S)
        "target": torch.from_numpy(target.astype(np.float32)),  # (S, S)
        "ref_id": ref_id,
    }


def _sentence_fields(split: ReferSplit, row: int) -> dict[str, Any]:
    return {
        "token_ids": torch.from_numpy(split.token_ids[row].astype(np.int64)),  # (L,)
        "attention_mask": torch.from_numpy(split.attention_mask[row].astype(np.int64)),  # (L,)
        "sent_id": int(split.sent_ids[row]),
    }


# Always lists, even when the sizes happen to agree, so consumers see one type.
LIST_KEYS = frozenset({"orig_mask"})


def collate_shared_images(items: list[dict[str, Any]]) -> dict[str, Any]:
    """``collate_samples`` with each distinct image once, for evaluation batches.

    ``image`` is (K, 3, S, S), the K distinct ``image_id`` of the batch in order of first
    use, ``image_index`` (B,) int64 the image of each sample (``LGFormer``'s
    ``image_index``; ``image[image_index]`` is what ``collate_samples`` would stack), and
    ``target`` (B, S, S) bool.
    """
    slots: dict[int, int] = {}
    images, index = [], []
    for item in items:
        slot = slots.setdefault(item["image_id"], len(slots))
        if slot == len(images):
            images.append(item["image"])
        index.append(slot)
    batch = collate_samples([{k: v for k, v in it.items() if k != "image"} for it in items])
    batch["image"] = torch.stack(images)
    batch["image_index"] = torch.tensor(index, dtype=torch.int64)
    batch["target"] = batch["target"] > 0.5
    return batch


def collate_samples(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch sample dicts: tensors of one shape are stacked (B, ...), ints become (B,)
    int64 tensors, anything else (``orig_mask`` of differing sizes) stays a list."""
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        first = values[0]
        if key in LIST_KEYS:
            batch[key] = values
        elif isinstance(first, torch.Tensor) and all(v.shape == first.shape for v in values):
            batch[key] = torch.stack(values)
        elif isinstance(first, int):
            batch[key] = torch.tensor(values, dtype=torch.int64)
        else:
            batch[key] = values
    return batch
