"""safetensors files written with aligned tensors and read without a copy.

A safetensors file is an 8-byte little-endian header length, a JSON header
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``)
and the tensors' bytes back to back, with no gap (the format forbids holes).
``safetensors.torch.save_file`` orders the tensors by dtype and name, so most start at
an offset that is a multiple of their element size but not of 64 bytes;
``safe_open(...).get_tensor`` copies each one into memory.

``write_aligned`` writes a standard file whose data begins at a multiple of 64 bytes (the
header is padded with spaces, which JSON allows) and whose tensors whose byte size is a
multiple of 64 come first, so each of them starts 64-byte aligned, as PyTorch's own
allocations are; the few others (a bias of odd length, Swin's position tables) follow,
largest element size first. ``read_mapped`` memory-maps the file copy-on-write
(``torch.UntypedStorage.from_file(shared=False)``, as ``torch.load(mmap=True)`` does)
and returns views of that one storage: nothing is read until used. A tensor not aligned
to its element size (a file from another writer) is copied.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

ALIGNMENT = 64  # bytes, as PyTorch's CPU allocator aligns

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}


def write_aligned(
    tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]
) -> Path:
    """Writes ``tensors`` (CPU) and ``metadata`` to ``path`` as a safetensors file whose
    data starts at a multiple of ``ALIGNMENT`` and whose tensors sized in multiples of it
    start at multiples of it."""
    for name, value in tensors.items():
        if value.dtype not in _NAMES:
            raise TypeError(f"cannot write {name}: dtype {value.dtype} has no safetensors name")
    order = sorted(
        tensors,
        key=lambda k: (_nbytes(tensors[k]) % ALIGNMENT != 0, -tensors[k].element_size(), k),
    )
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name in order:
        value = tensors[name]
        end = offset + _nbytes(value)
        header[name] = {
            "dtype": _NAMES[value.dtype],
            "shape": list(value.shape),
            "data_offsets": [offset, end],
        }
        offset = end
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % ALIGNMENT)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name in order:
            f.write(_bytes(tensors[name]))
    return Path(path)


def read_mapped(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of safetensors file ``path``, views of one copy-on-write mapping of it.

    Call it on a file ``safe_open`` has accepted (it checks the header: offsets in
    bounds and contiguous, sizes matching shapes); this repeats the bound and size checks
    it relies on and raises ``ValueError`` on a mismatch.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        if not 0 < length <= size - 8:
            raise ValueError(f"header length {length} does not fit a file of {size} bytes")
        header = json.loads(f.read(length))
    start = 8 + length
    storage = torch.UntypedStorage.from_file(str(path), shared=False, nbytes=size)
    data = torch.empty(0, dtype=torch.uint8).set_(storage)
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name}: unsupported dtype {entry['dtype']}")
        shape = [int(n) for n in entry["shape"]]
        begin, end = (start + int(n) for n in entry["data_offsets"])
        itemsize = torch.empty(0, dtype=dtype).element_size()
        if not start <= begin <= end <= size or end - begin != math.prod(shape) * itemsize:
            raise ValueError(f"tensor {name}: data_offsets do not match its shape or the file")
        raw = data[begin:end]
        if begin % itemsize:
            raw = raw.clone()
        out[name] = raw.view(dtype).reshape(shape)
    return out


def _nbytes(value: torch.Tensor) -> int:
    return value.numel() * value.element_size()


def _bytes(value: torch.Tensor) -> memoryview:
    """The bytes of ``value`` (contiguous, CPU) in memory order."""
    flat = value.contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy()) if flat.numel() else memoryview(b"")
