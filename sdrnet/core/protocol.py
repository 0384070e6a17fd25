"""One way onto the core: `to_core(model, dt=...)` gives a `CoreModel`, whose `CoreModel.run` returns a `RunResult`.

Every model family fills the registry (`register_core`) with a converter from its trained model to a core model:
the delay SNN, pruned MLPs (ReLU or spiking), active-dendrite MLPs and delta networks. A family's converter is
registered when its module is imported; `to_core` also imports the modules that installed packages announce under
the ``sdrnet.core_models`` entry-point group, so a model of any installed family converts without importing its
exporter first. `sdrnet.core` itself imports none of them.

>>> import numpy as np
>>> from sdrnet.core import Events, Layer, Network, Synapses, to_core
>>> net = to_core(Network([Layer(Synapses.from_dense([[1.5]]))], dt=1e-3))
>>> net.run(Events.from_dense(np.ones((2, 1, 1), np.float32))).spikes.time.tolist()   # v: 0.75, then 1.125
[1]
"""

from __future__ import annotations

import copy
import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .events import Events
from .synapses import FanIn, Synapses
from .validation import as_array, as_float32, check_dt, check_int

__all__ = [
    "CoreModel",
    "StaticCoreModel",
    "RunResult",
    "register_core",
    "to_core",
    "registered_cores",
    "static_input",
    "ENTRY_POINTS",
    "LAYOUTS",
]

LAYOUTS = ("fan-out", "fan-in")  # a static model's projections as Synapses (scatter kernels) or FanIn (gather)
ENTRY_POINTS = "sdrnet.core_models"  # entry-point group: name = module that calls `register_core` on import


class RunResult(NamedTuple):
    """What every core model's `CoreModel.run` returns.

    output : float32, the model's output: ``[T, B, n_out]`` for models that run in time (a readout layer's
        membrane potential, or the output layer's spikes per step) and ``[B, n_out]`` for static ones (logits);
        None when the run was asked not to build it (`Network.run` with ``output=False``);
    state : the model's state after the last step (pass it to ``run(..., state=)`` to continue; None for
        models without state);
    synops : int64 ``[n_projections]``, synaptic operations (events × the synapses they reach) per projection,
        counting only deliveries that land inside the run;
    records : what ``record`` asked for, ``{name: {layer: values}}`` (e.g. ``records["v"][0]``: layer 0's
        membrane potential ``[T, B, n_0]``);
    spikes : the output layer's spikes (Events), for spiking models;
    layer_spikes : every layer's spikes (Events), for spiking models;
    kernels : the kernel each projection ran, where the core chose one (`sdrnet.core.sparse_matmul`).
    """

    output: np.ndarray | None
    state: Any
    synops: np.ndarray
    records: dict
    spikes: Events | None = None
    layer_spikes: tuple = ()
    kernels: tuple = ()


class CoreModel(ABC):
    """The interface of a model on the core. ``dt`` is the length of one step in seconds (None: the model
    has no time, or its steps have no stated length)."""

    dt: float | None = None

    @property
    @abstractmethod
    def n_inputs(self) -> int: ...

    @property
    @abstractmethod
    def n_outputs(self) -> int: ...

    def init_state(self, batch: int):
        """The state before the first step for ``batch`` samples (None: the model has no state)."""
        return None

    @abstractmethod
    def run(self, events, state=None, n_steps: int | None = None, record=()) -> RunResult:
        """Run ``events`` (an `Events`, or a dense array the model documents) from ``state`` (None: `init_state`)."""

    def scores(self, result: RunResult) -> np.ndarray:
        """Class scores ``[B, n_out]`` of a run: the output summed over time (or the output of a static model)."""
        out = result.output
        if out is None:
            raise ValueError("this result has no output (run with output=True to score it)")
        return out.sum(0) if out.ndim == 3 else out

    def predict(self, events, **inputs) -> np.ndarray:
        """The predicted class of every sample (argmax of `scores`), int64 ``[B]``."""
        return self.scores(self.run(events, **inputs)).argmax(-1)


@dataclass(frozen=True)
class _Converter:
    name: str
    matches: Callable[[object], bool]
    convert: Callable[..., CoreModel]


_REGISTRY: dict[str, _Converter] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_plugins_loaded = False


def register_core(name: str, matches: Callable[[object], bool], convert: Callable[..., CoreModel]) -> None:
    """Let `to_core` convert models for which ``matches(model)`` is true with ``convert(model, dt=..., **options)``.

    ``name`` names the family (registering it again replaces the converter)."""
    if not (isinstance(name, str) and name):
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if not (callable(matches) and callable(convert)):
        raise TypeError("matches and convert must be callables")
    _REGISTRY[name] = _Converter(name, matches, convert)


def registered_cores() -> list[str]:
    """Names of the registered families (after loading the installed ones)."""
    _load_plugins()
    return sorted(_REGISTRY)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINTS):
        try:
            ep.load()
        except ImportError as exc:  # a family whose optional packages are not installed
            _PLUGIN_ERRORS[ep.name] = str(exc)


def _find(model) -> _Converter | None:
    return next((c for c in _REGISTRY.values() if c.matches(model)), None)


def to_core(model, dt: float | None = None, **options) -> CoreModel:
    """The core model of ``model`` (a trained model of any registered family, or a `CoreModel`).

    ``dt`` (seconds per step) overrides what the model's training data or config says; a converter whose
    model does not say and needs it (a spiking model exported to physical time) raises ValueError rather
    than guess. ``options`` go to the family's converter."""
    if isinstance(model, CoreModel):
        step_length(model.dt, dt, "the model's dt")
        if options:
            raise TypeError(f"a CoreModel takes no options, got {sorted(options)}")
        return model
    converter = _find(model)
    if converter is None:
        _load_plugins()
        converter = _find(model)
    if converter is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        missing = "".join(f"; {name} not loaded: {why}" for name, why in sorted(_PLUGIN_ERRORS.items()))
        raise TypeError(
            f"no core converter takes a {type(model).__module__}.{type(model).__qualname__} "
            f"(registered: {known}{missing})"
        )
    return converter.convert(model, dt=dt, **options)


class StaticCoreModel(CoreModel):
    """A core model without time or state (one step): its projections are ``synapses`` (a list of `Synapses`,
    or of `FanIn` in the fan-in layout, input first); `static_input` reads its input."""

    synapses: list

    @property
    def layout(self) -> str:
        """``"fan-in"`` when the projections are `FanIn`, else ``"fan-out"``."""
        return "fan-in" if isinstance(self.synapses[0], FanIn) else "fan-out"

    def with_layout(self, layout: str):
        """A copy with every projection stored in ``layout``, whose outputs are the same to the bit:

        - ``"fan-out"``: `Synapses` (CSR by presynaptic unit); `sparse_matmul` picks per call the event kernel
          (zero inputs cost nothing: best for sparse activity and single samples) or the batched scatter;
        - ``"fan-in"``: `FanIn` (CSR by postsynaptic unit, as lean); the gather kernel, several times faster
          on batches of dense activations, but every synapse costs the same whatever the input.
        """
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        cls = FanIn if layout == "fan-in" else Synapses
        convert = FanIn if layout == "fan-in" else FanIn.to_synapses
        out = copy.copy(self)
        out.synapses = [s if isinstance(s, cls) else convert(s) for s in self.synapses]
        return out

    @property
    def n_inputs(self) -> int:
        return self.synapses[0].n_pre

    @property
    def n_outputs(self) -> int:
        return self.synapses[-1].n_post

    def static_input(self, events, state=None, n_steps: int | None = None, record=()) -> np.ndarray:
        """`static_input` of this model; ValueError if ``record`` asks for anything (it records nothing)."""
        if record:
            raise ValueError(f"a {type(self).__name__} records nothing: record must be empty, got {record!r}")
        return static_input(events, self.n_inputs, state, n_steps)


def static_input(events, n_inputs: int, state=None, n_steps: int | None = None) -> np.ndarray:
    """The input of a static model's `CoreModel.run` (one step, no state) as float32 ``[B, n_inputs]``.

    ``events``: a dense real ``[B, n_inputs]`` array (numpy, or a tensor with ``.detach()`` such as torch's) or
    an `Events` of one step; ``state`` must be None and ``n_steps`` None or 1."""
    if state is not None:
        raise ValueError(f"a static model has no state: state must be None, got {type(state).__name__}")
    if n_steps is not None and check_int("n_steps", n_steps) != 1:
        raise ValueError(f"a static model runs one step: n_steps must be None or 1, got {n_steps}")
    if isinstance(events, Events):
        if events.n_steps != 1 or events.n_units != n_inputs:
            raise ValueError(
                f"events must be one step of {n_inputs} units, got n_steps={events.n_steps}, n_units={events.n_units}"
            )
        return events.to_dense()[0]
    if hasattr(events, "detach"):
        events = events.detach().cpu().numpy()
    x = as_array("events", events, kind="f")
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise ValueError(f"events must have shape [B, {n_inputs}], got {x.shape}")
    return as_float32("events", x)


def step_length(own: float | None, dt: float | None, name: str) -> float | None:
    """The step length in seconds: ``dt`` if given, else ``own`` (the model's, named ``name``); ValueError
    if both are given and disagree (the time constants would be off by their ratio)."""
    dt = check_dt(dt)
    if dt is not None and own is not None and not np.isclose(dt, own, rtol=1e-9, atol=0):
        raise ValueError(f"dt={dt:g} s disagrees with {name}={own:g} s")
    return own if dt is None else dt
