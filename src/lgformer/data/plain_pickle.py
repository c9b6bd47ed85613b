"""Reading pickles that may only hold plain data: dicts, lists, tuples, strings, numbers.

REFER's ``refs(<splitBy>).p`` files are such pickles, and today they mostly come
from third-party mirrors. ``pickle.load`` would run whatever a crafted file asks
for (``os.system`` included) through the globals it names; the unpickler here
refuses every global, so a file can only build plain containers and values.
"""

from __future__ import annotations

import pickle
from typing import IO, Any


class GlobalRefused(pickle.UnpicklingError):
    """The pickle names a global (a class or function): it holds more than plain data."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.global_name = f"{module}.{name}"


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise GlobalRefused(module, name)


def load_plain_pickle(file: IO[bytes], *, encoding: str = "ASCII") -> Any:
    """``pickle.load(file, encoding=encoding)`` that refuses every global.

    Raises:
        GlobalRefused: the file names a class or function (``os.system``, ...).
        pickle.UnpicklingError, EOFError, ...: a truncated or corrupt file.
    """
    return _PlainUnpickler(file, encoding=encoding).load()
