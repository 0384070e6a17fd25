"""Lazy exports of a package (PEP 562): a name of its ``__init__`` is imported from its module on first use,
so that importing the package stays light (`snn` and `dendrites` use this to export their main names
without loading torch)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``package`` whose name ``n`` is defined in its module
    ``where[n]``: ``__getattr__`` imports that module on first use and keeps the value in the package."""

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
