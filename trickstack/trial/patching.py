"""A version-checked patch of one Composer function: what it replaces, and the source it was written against."""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable


def source_hash(fn: Callable[..., Any] | tuple[Callable[..., Any], ...]) -> str:
    """sha256 of a function's source text (of several, joined): a changed upstream function no longer matches."""
    return hashlib.sha256("".join(inspect.getsource(f) for f in (fn if isinstance(fn, tuple) else (fn,))).encode()).hexdigest()


@dataclass(frozen=True)
class Patch:
    owner: Any  # a class or module of Composer
    name: str
    original: Any
    replacement: Any
    checked: Any  # the function(s) whose source must be unchanged: the original, its caller, what it reproduces
    known_hash: str  # source_hash(checked) in the Composer version the patch was written for

    @property
    def label(self) -> str:
        return f"{getattr(self.owner, '__qualname__', self.owner.__name__)}.{self.name}"
