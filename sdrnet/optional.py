"""Optional dependencies: import one, or fail with the ``pip install`` line of the extra that provides it."""

from __future__ import annotations

import importlib

# the extra of setup.cfg that installs each optional top-level package
EXTRAS = {
    "torch": "torch",
    "spikingjelly": "snn",
    "DCLS": "snn",
    "nir": "snn",
    "yaml": "snn",
    "brian2": "brian2",
    "neurobench": "all",
    "pyNN": "nest",
    "nest": "nest",
    "tonic": "tonic",
}


def require(module: str, needed_by: str):
    """``importlib.import_module(module)``; if its package is not installed, a `ModuleNotFoundError` that says
    what needs it and which extra installs it (``name`` stays the package, as Python sets it)."""
    top = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is None or err.name.partition(".")[0] != top:
            raise  # the package is there but one of its own imports failed: keep that error
        raise ModuleNotFoundError(f"{needed_by} needs {top}: pip install 'sdrnet[{EXTRAS[top]}]'", name=top) from err
