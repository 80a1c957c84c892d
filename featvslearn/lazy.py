"""Package attributes imported on first use, so that importing a package loads neither torch nor scikit-learn.

A package that exports the names of its torch modules writes::

    __getattr__, __dir__ = lazy_exports(__name__, {"LinearSVM": "svm", ...})

and ``featvslearn.classical.LinearSVM`` imports ``featvslearn.classical.svm`` the first time it is read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a name to the submodule
    (relative to ``package``) that defines it."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
