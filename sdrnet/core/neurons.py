"""Neuron models of the core, as data: each model's parameters, from which the kernel constants
(`sdrnet.core.kernels.neuron_step`), the Brian2 equations (`NeuronModel.brian2`), the NIR node
(`NeuronModel.to_nir` / `from_nir`) and the functional steps (`lif_step`, `if_step`, `cuba_lif_step`) are derived.

A model is given in steps (``LIFParams(tau=20)``) or in seconds (``LIFParams(tau_s=0.02)``);
``resolve(dt)`` turns the latter into steps of ``dt`` seconds. The functional steps are Norse-style
``*_step(x, state, params) -> (spikes, state)`` on float32 arrays of any shape (``[B, n]`` for a batch),
with the float32 operation order of the kernel, so they are its reference.

>>> import numpy as np
>>> p = LIFParams(tau_s=0.02).resolve(1e-3)
>>> p.tau
20.0
>>> z, s = lif_step(np.full((1, 2), 25.0, np.float32), None, p)
>>> z.tolist(), s.v.tolist()
([[1.0, 1.0]], [[0.0, 0.0]])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, NamedTuple, Self, TypeVar, cast

import numpy as np

from .validation import check_bool, check_dt, check_float32, check_int

__all__ = [
    "NeuronModel",
    "LIFParams",
    "IFParams",
    "CubaLIFParams",
    "LIFState",
    "IFState",
    "CubaLIFState",
    "Brian2Model",
    "lif_step",
    "if_step",
    "cuba_lif_step",
    "neuron_from_nir",
    "nir_threshold",
    "core_threshold",
]

_F = np.float32
_M = TypeVar("_M", bound="NeuronModel")
_RESET_MECHANISMS = ("subtract", "zero", "none")  # snnTorch's reset_dict order: the kernel's codes 0, 1, 2


class LIFState(NamedTuple):
    """State of `LIFParams` neurons: the membrane potential."""

    v: np.ndarray


class IFState(NamedTuple):
    """State of `IFParams` neurons: the membrane potential."""

    v: np.ndarray


class CubaLIFState(NamedTuple):
    """State of `CubaLIFParams` neurons: the membrane potential ``v`` (snnTorch ``mem``) and the synaptic
    current ``i`` (snnTorch ``syn``)."""

    v: np.ndarray
    i: np.ndarray


@dataclass(frozen=True)
class Brian2Model:
    """A neuron model as Brian2 runs it: one discrete step per Brian2 time step.

    ``NeuronGroup(n, equations, threshold=threshold, reset=reset, namespace=namespace, method="exact")``
    holds the variables; the step is ``update``, statements ``(variable, expression)`` run in order once per
    step in the ``groups`` slot (`code`), before Brian2's threshold and reset. The input of a step is
    ``x = I + b``: synapses add into ``I`` (``on_pre="I_post += w"``), which the step consumes
    (``I = 0``), and ``b`` is the bias (``(constant)``, set per neuron). Variables named in ``temporaries``
    are Brian2 temporaries of the step. ``namespace`` holds the model's constants, ``initial`` the values of
    the variables at rest (`group` sets them; Brian2 starts every variable at 0).
    """

    equations: str
    update: tuple[tuple[str, str], ...]
    threshold: str
    reset: str
    namespace: dict[str, Any] = field(default_factory=dict)
    temporaries: tuple[str, ...] = ()
    initial: dict[str, float] = field(default_factory=dict)

    def code(self, live: str | None = None) -> str:
        """The step as Brian2 abstract code, ending ``I = 0``. With ``live`` (a Brian2 condition, e.g.
        ``"(t >= start and t < stop)"``), the model's variables change only while it holds."""
        lines = []
        for var, expr in self.update:
            gate = live is not None and var not in self.temporaries
            lines.append(f"{var} = int({live}) * ({expr}) + (1 - int({live})) * {var}" if gate else f"{var} = {expr}")
        return "\n".join(lines + ["I = 0"])

    def group(self, b2, n: int, *, live: str | None = None, namespace: dict | None = None):
        """A ``b2.NeuronGroup`` of ``n`` such neurons running `code` (``live`` also gates the threshold);
        ``namespace`` adds names (e.g. those of ``live``). Its variables start at rest (``initial``); set its
        ``b`` (bias) before running."""
        threshold = self.threshold if live is None else f"{self.threshold} and {live}"
        g = b2.NeuronGroup(
            check_int("n", n, 1),
            self.equations,
            threshold=threshold,
            reset=self.reset,
            method="exact",
            namespace={**self.namespace, **(namespace or {})},
        )
        for var, value in self.initial.items():
            setattr(g, var, value)
        g.run_regularly(self.code(live), when="groups")
        return g


_B2_VARS = "v : 1\nI : 1\nb : 1 (constant)"


class NeuronModel(ABC):
    """What every neuron model of the core provides (the models are frozen dataclasses).

    ``code`` selects the model in `sdrnet.core.kernels.neuron_step`, which reads `kernel_constants`;
    ``state_vars`` names the rows of the state (`init_state`), ``"v"`` (the membrane potential) first;
    ``State`` is the model's state NamedTuple (fields ``state_vars``); `step` is the plain-numpy step.
    """

    code: ClassVar[int]
    state_vars: ClassVar[tuple[str, ...]]
    State: ClassVar[type]
    v_threshold: float  # a field of every model
    _seconds: ClassVar[tuple[str, ...]] = ()  # fields in seconds, None once resolved

    @property
    def in_steps(self) -> bool:
        """True when no parameter is given in seconds (the model needs no ``dt``)."""
        return all(getattr(self, name) is None for name in self._seconds)

    @property
    def fires(self) -> bool:
        """False for a readout (``v_threshold = inf``): its membrane potential is its output."""
        return bool(np.isfinite(self.v_threshold))

    def resolve(self, dt: float | None) -> Self:
        """This model in steps of ``dt`` seconds (a model in steps is returned as it is; ``dt`` may be None)."""
        if self.in_steps:
            return self
        dt = check_dt(dt)
        if dt is None:
            raise ValueError(f"{self!r} is given in seconds: resolve it with dt (seconds per step)")
        return self._resolved(dt)

    def init_state(self, n: int) -> np.ndarray:
        """``[len(state_vars), n]`` float32: every neuron at rest."""
        return np.repeat(np.asarray(self._rest(), _F)[:, None], check_int("n", n, 0), axis=1)

    @abstractmethod
    def step(self, x: np.ndarray, state=None):
        """One step of these neurons: ``(spikes, state)`` (see the model's functional step)."""
        ...

    @abstractmethod
    def kernel_constants(self) -> np.ndarray:
        """The model's 8 float32 constants, as `sdrnet.core.kernels.neuron_step` reads them."""
        ...

    @abstractmethod
    def brian2(self) -> Brian2Model:
        """The model as Brian2 runs it (`Brian2Model`)."""
        ...

    @abstractmethod
    def to_nir(self, n: int, dt: float):
        """``n`` of these neurons as a NIR node, at ``dt`` seconds per step."""
        ...

    def _resolved(self, dt: float) -> Self:
        """This model with its fields in seconds (`_seconds`) turned into steps; models without them never get here."""
        raise TypeError(f"{type(self).__name__} has fields in seconds {self._seconds} but does not define _resolved")

    @abstractmethod
    def _rest(self) -> tuple[float, ...]: ...

    def _steps(self, what: str) -> None:
        if not self.in_steps:
            raise ValueError(f"{what}: {self!r} is given in seconds; resolve(dt) it first")


@dataclass(frozen=True)
class LIFParams(NeuronModel):
    """Parameters of a leaky integrate-and-fire neuron, exactly as SpikingJelly's ``LIFNode``.

    Charge (discrete time, SpikingJelly ``neuron.LIFNode``)::

        decay_input=True:   H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau
        decay_input=False:  H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]

    fire ``S[t] = H[t] >= v_threshold``; reset ``V[t] = V_reset`` if ``S[t]`` (hard reset) or
    ``V[t] = H[t] - v_threshold`` (soft reset, ``v_reset=None``, where V_reset above reads 0).
    ``v_threshold=inf`` gives a non-spiking readout whose membrane potential is the output.

    ``tau`` is in steps (default 2); ``tau_s`` gives it in seconds instead (``tau = tau_s / dt`` at
    `resolve`; not both).
    """

    tau: float | None = None
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True
    tau_s: float | None = field(default=None, kw_only=True)

    code: ClassVar[int] = 0
    state_vars: ClassVar[tuple[str, ...]] = ("v",)
    State: ClassVar[type] = LIFState
    _seconds: ClassVar[tuple[str, ...]] = ("tau_s",)

    def __post_init__(self):
        if self.tau_s is not None:
            if self.tau is not None:
                raise ValueError(f"give tau (steps) or tau_s (seconds), not both: tau={self.tau}, tau_s={self.tau_s}")
            _check_seconds("tau_s", self.tau_s)
        else:
            if self.tau is None:
                object.__setattr__(self, "tau", 2.0)
            if not (np.isfinite(check_float32("tau", self.tau)) and self.tau >= 1.0):
                raise ValueError(f"tau must be a finite number >= 1 (time steps), got {self.tau}")
        _check_threshold_reset(self.v_threshold, self.v_reset)
        check_bool("decay_input", self.decay_input)

    def _resolved(self, dt: float) -> Self:
        tau = self.tau if self.tau_s is None else _steps_of("tau_s", self.tau_s, dt)
        return replace(self, tau=tau, tau_s=None)

    def _rest(self):
        return (0.0 if self.v_reset is None else self.v_reset,)

    def kernel_constants(self) -> np.ndarray:
        """``[tau, v_threshold, v_reset (0 if soft), soft, decay_input, 0, 0, 0]`` in float32."""
        self._steps("kernel_constants")
        return np.array(
            [self.tau, self.v_threshold, self._rest()[0], self.v_reset is None, self.decay_input, 0, 0, 0], _F
        )

    def step(self, x: np.ndarray, state: LIFState | None = None) -> tuple[np.ndarray, LIFState]:
        """`lif_step` with these parameters."""
        return lif_step(x, state, self)

    def brian2(self) -> Brian2Model:
        """The Brian2 model (`Brian2Model`): ``v = v - v / tau + I + b`` for ``decay_input=False`` and a hard
        reset to 0 (the delay SNN's neurons), else the charge above with ``x = (I + b)``; threshold
        ``v >= v_th``; reset ``v = 0`` / ``v = v_reset`` (hard) or ``v = v - v_th`` (soft)."""
        self._steps("brian2")
        leak = "v" if self.v_reset in (None, 0.0) else "(v - v_reset)"
        if not self.decay_input and self.v_reset == 0.0:
            update = "v - v / tau + I + b"
        elif self.decay_input:
            update = f"v + ((I + b) - {leak}) / tau"
        else:
            update = f"v - {leak} / tau + (I + b)"
        return Brian2Model(
            _B2_VARS,
            (("v", update),),
            "v >= v_th",
            _brian2_reset(self.v_reset),
            {"tau": self.tau, "v_th": self.v_threshold, **_v_reset_name(self.v_reset)},
            initial={"v": self._rest()[0]},
        )

    def to_nir(self, n: int, dt: float):
        """``n`` of these neurons as a NIR node (Euler step at ``dt`` of NIR's equations; every value in seconds).

        Firing neurons become a ``nir.LIF``: its Euler step of ``tau_nir dv/dt = (v_leak - v) + r I`` with
        ``tau_nir = tau dt``, ``v_leak = v_reset`` and ``r = 1`` (``decay_input=True``) or ``r = tau``
        (``decay_input=False``) is the charge above (SpikingJelly's ``nir_exchange`` mapping). NIR fires at
        ``v > v_threshold``, the core at ``v >= v_threshold``: the node's threshold is the float32 just below
        ``float32(v_threshold)`` (`nir_threshold`), so that for float32 potentials (the core's, snnTorch's,
        Norse's) ``v > θ⁻`` holds exactly when ``v >= θ``. A soft reset has no NIR form (NIR resets to
        ``v_reset``): ValueError.

        A readout (``v_threshold = inf``) becomes NIR's non-spiking ``nir.LI`` (same ``tau``, ``r``, and
        ``v_leak`` = its rest potential); no threshold, so no reset either."""
        p, dt, n = self.resolve(_need_dt(dt)), _need_dt(dt), check_int("n", n, 1)
        nir = _nir()
        full = lambda value: np.full(n, float(value))  # noqa: E731
        tau = cast(float, p.tau)  # a resolved LIFParams has tau (steps): None only while tau_s is given
        shared = {"tau": full(tau * dt), "r": full(1.0 if p.decay_input else tau), "v_leak": full(p._rest()[0])}
        if not p.fires:
            return nir.LI(**shared)
        if p.v_reset is None:
            raise ValueError("a soft reset (v_reset=None) has no NIR LIF form (NIR resets to v_reset)")
        return nir.LIF(**shared, v_threshold=full(nir_threshold(p.v_threshold)), v_reset=full(p.v_reset))

    @classmethod
    def from_nir(cls, node, dt: float, *, name: str = "nir.LIF") -> LIFParams:
        """The model of a ``nir.LIF`` or ``nir.LI`` node (`to_nir`'s mapping, read back; every neuron alike), in
        steps of ``dt``: ``tau = tau_nir / dt``; ``r = 1`` reads as ``decay_input=True``, ``r = tau_nir / dt`` as
        ``decay_input=False`` (anything else: ValueError naming the field); ``v_leak`` must equal ``v_reset``.
        A LIF's ``v > v_threshold`` becomes the core's ``v >= θ⁺`` (`core_threshold`); an LI is a readout
        (``v_threshold = inf``) resting at ``v_leak``."""
        dt = _need_dt(dt)
        _check_node(node, ("LIF", "LI"), name)
        tau = _uniform(node.tau, f"{name}.tau") / dt
        r = _uniform(node.r, f"{name}.r")
        v_leak = _uniform(node.v_leak, f"{name}.v_leak")
        fires = isinstance(node, _nir().LIF)
        v_reset = _uniform(node.v_reset, f"{name}.v_reset") if fires and node.v_reset is not None else v_leak
        if not np.isclose(v_leak, v_reset):
            raise ValueError(
                f"{name}.v_leak = {v_leak:g} must equal {name}.v_reset = {v_reset:g} (the core's LIF decays "
                "towards the potential it resets to, as SpikingJelly's)"
            )
        decay_input = bool(np.isclose(r, 1.0))
        if not decay_input and not np.isclose(r, tau):
            raise ValueError(f"{name}.r must be 1 (decay_input=True) or tau/dt = {tau:g} (decay_input=False), got {r}")
        threshold = core_threshold(_uniform(node.v_threshold, f"{name}.v_threshold")) if fires else np.inf
        return _built(name, cls, tau=_snap(tau), v_threshold=threshold, v_reset=v_reset, decay_input=decay_input)


@dataclass(frozen=True)
class IFParams(NeuronModel):
    """Parameters of an integrate-and-fire neuron, exactly as SpikingJelly's ``IFNode``.

    Charge ``H[t] = V[t-1] + X[t]``; fire ``S[t] = H[t] >= v_threshold``; reset ``V[t] = v_reset`` if
    ``S[t]`` (hard reset) or ``V[t] = H[t] - v_threshold`` (soft reset, ``v_reset=None``).
    """

    v_threshold: float = 1.0
    v_reset: float | None = 0.0

    code: ClassVar[int] = 1
    state_vars: ClassVar[tuple[str, ...]] = ("v",)
    State: ClassVar[type] = IFState

    def __post_init__(self):
        _check_threshold_reset(self.v_threshold, self.v_reset)

    def _rest(self):
        return (0.0 if self.v_reset is None else self.v_reset,)

    def kernel_constants(self) -> np.ndarray:
        """``[0, v_threshold, v_reset (0 if soft), soft, 0, 0, 0, 0]`` in float32 (LIF's slots)."""
        return np.array([0, self.v_threshold, self._rest()[0], self.v_reset is None, 0, 0, 0, 0], _F)

    def step(self, x: np.ndarray, state: IFState | None = None) -> tuple[np.ndarray, IFState]:
        """`if_step` with these parameters."""
        return if_step(x, state, self)

    def brian2(self) -> Brian2Model:
        """The Brian2 model (`Brian2Model`): ``v = v + (I + b)``, threshold ``v >= v_th``, reset ``v = v_reset``
        (hard) or ``v = v - v_th`` (soft)."""
        return Brian2Model(
            _B2_VARS,
            (("v", "v + (I + b)"),),
            "v >= v_th",
            _brian2_reset(self.v_reset),
            {"v_th": self.v_threshold, **_v_reset_name(self.v_reset)},
            initial={"v": self._rest()[0]},
        )

    def to_nir(self, n: int, dt: float):
        """``n`` of these neurons as a ``nir.IF``: the step is the Euler step at ``dt`` of NIR's ``dv/dt = r I``
        with ``r = 1/dt``, as SpikingJelly's ``nir_exchange`` writes it; the threshold is the float32 just
        below ``v_threshold`` (NIR's ``v > θ⁻`` is the core's ``v >= θ``: `nir_threshold`). A soft reset has no
        NIR form: ValueError. A readout (``v_threshold = inf``) is NIR's integrator ``nir.I`` (``r = 1/dt``),
        which starts at 0: a readout resting elsewhere (``v_reset != 0``) raises ValueError."""
        dt, n = _need_dt(dt), check_int("n", n, 1)
        nir = _nir()
        if not self.fires:
            if self._rest()[0] != 0.0:
                raise ValueError(f"an IF readout resting at v_reset={self.v_reset} has no NIR form (nir.I starts at 0)")
            return nir.I(r=np.full(n, 1.0 / dt))
        if self.v_reset is None:
            raise ValueError("a soft reset (v_reset=None) has no NIR IF form (NIR resets to v_reset)")
        return nir.IF(
            r=np.full(n, 1.0 / dt),
            v_threshold=np.full(n, nir_threshold(self.v_threshold)),
            v_reset=np.full(n, float(self.v_reset)),
        )

    @classmethod
    def from_nir(cls, node, dt: float, *, name: str = "nir.IF") -> IFParams:
        """The model of a ``nir.IF`` (threshold `core_threshold`) or ``nir.I`` (a readout) node with
        ``r = 1/dt`` (`to_nir`'s mapping; every neuron alike; another ``r``: ValueError naming the field)."""
        dt = _need_dt(dt)
        _check_node(node, ("IF", "I"), name)
        r = _uniform(node.r, f"{name}.r")
        if not np.isclose(r * dt, 1.0):
            raise ValueError(f"{name}.r must be 1/dt = {1 / dt:g} (v <- v + x each step), got {r}")
        if not isinstance(node, _nir().IF):
            return cls(v_threshold=np.inf, v_reset=0.0)
        return _built(
            name,
            cls,
            v_threshold=core_threshold(_uniform(node.v_threshold, f"{name}.v_threshold")),
            v_reset=_uniform(node.v_reset, f"{name}.v_reset"),
        )


@dataclass(frozen=True)
class CubaLIFParams(NeuronModel):
    """Parameters of a current-based LIF neuron, exactly as snnTorch's ``Synaptic``.

    Per step (snnTorch ``Synaptic.forward``; ``R[t] = V[t-1] > v_threshold``, the reset signal from the
    previous step's membrane)::

        I[t] = alpha I[t-1] + X[t]
        H[t] = beta V[t-1] + I[t]
        V[t] = H[t] - R[t] v_threshold      (reset_mechanism="subtract")
               H[t] - H[t] R[t]             ("zero")
               H[t]                         ("none")
        S[t] = V[t] > v_threshold           (strictly, as snnTorch's Heaviside)

    With ``reset_delay=False`` the reset also acts in the spike's own step:
    ``V[t] -= (S[t] - R[t]) v_threshold`` ("subtract") or ``V[t] -= (S[t] - R[t]) V[t]`` ("zero"), as
    snnTorch does (``reset_delay=False`` is what snnTorch builds from a NIR ``CubaLIF``).

    ``alpha`` and ``beta`` (decays per step, in [0, 1]) may instead be given in seconds as ``tau_syn_s``
    and ``tau_mem_s``: ``alpha = 1 - dt / tau_syn_s`` (the Euler step snnTorch's NIR import reads).
    """

    alpha: float | None = None
    beta: float | None = None
    v_threshold: float = 1.0
    reset_mechanism: str = "subtract"
    reset_delay: bool = True
    tau_syn_s: float | None = field(default=None, kw_only=True)
    tau_mem_s: float | None = field(default=None, kw_only=True)

    code: ClassVar[int] = 2
    state_vars: ClassVar[tuple[str, ...]] = ("v", "i")
    State: ClassVar[type] = CubaLIFState
    _seconds: ClassVar[tuple[str, ...]] = ("tau_syn_s", "tau_mem_s")

    def __post_init__(self):
        for decay, seconds in (("alpha", "tau_syn_s"), ("beta", "tau_mem_s")):
            given, tau = getattr(self, decay), getattr(self, seconds)
            if (given is None) == (tau is None):
                raise ValueError(
                    f"give {decay} (decay per step) or {seconds} (seconds), exactly one: "
                    f"{decay}={given}, {seconds}={tau}"
                )
            if tau is not None:
                _check_seconds(seconds, tau, allow_inf=True)
            elif not 0.0 <= check_float32(decay, given) <= 1.0:
                raise ValueError(f"{decay} must lie in [0, 1] (a decay per step), got {given}")
        if np.isnan(check_float32("v_threshold", self.v_threshold)):
            raise ValueError("v_threshold must not be NaN")
        if self.reset_mechanism not in _RESET_MECHANISMS:
            raise ValueError(f"reset_mechanism must be one of {_RESET_MECHANISMS}, got {self.reset_mechanism!r}")
        check_bool("reset_delay", self.reset_delay)

    def _resolved(self, dt: float) -> Self:
        alpha = _decay_of(self.alpha, "tau_syn_s", self.tau_syn_s, dt)
        beta = _decay_of(self.beta, "tau_mem_s", self.tau_mem_s, dt)
        return replace(self, alpha=alpha, beta=beta, tau_syn_s=None, tau_mem_s=None)

    def _rest(self):
        return (0.0, 0.0)

    def kernel_constants(self) -> np.ndarray:
        """``[alpha, v_threshold, beta, reset_mechanism (0 subtract, 1 zero, 2 none), reset_delay, 0, 0, 0]``
        in float32."""
        self._steps("kernel_constants")
        return np.array(
            [
                self.alpha,
                self.v_threshold,
                self.beta,
                _RESET_MECHANISMS.index(self.reset_mechanism),
                self.reset_delay,
                0,
                0,
                0,
            ],
            _F,
        )

    def step(self, x: np.ndarray, state: CubaLIFState | None = None) -> tuple[np.ndarray, CubaLIFState]:
        """`cuba_lif_step` with these parameters."""
        return cuba_lif_step(x, state, self)

    def brian2(self) -> Brian2Model:
        """The Brian2 model (`Brian2Model`): the step above with ``X = (I + b)``, the synaptic current in
        ``i_syn`` (Brian2 reserves ``i``), ``r`` and ``h`` temporaries; threshold ``v > v_th``, no Brian2
        reset (the step resets). With ``reset_delay=False`` the step resets at once and the spike flag ``s``
        is the threshold."""
        self._steps("brian2")
        after = {"subtract": "h - r * v_th", "zero": "h - h * r", "none": "h"}[self.reset_mechanism]
        update = [("r", "int(v > v_th)"), ("i_syn", "alpha * i_syn + (I + b)"), ("h", "beta * v + i_syn"), ("v", after)]
        equations, threshold = f"{_B2_VARS}\ni_syn : 1", "v > v_th"
        if not self.reset_delay:
            update.append(("s", "int(v > v_th)"))
            now = {"subtract": "v - (s - r) * v_th", "zero": "v - (s - r) * v"}.get(self.reset_mechanism)
            update += [("v", now)] if now else []
            equations, threshold = f"{equations}\ns : 1", "s > 0.5"
        return Brian2Model(
            equations,
            tuple(update),
            threshold,
            "",
            {"alpha": self.alpha, "beta": self.beta, "v_th": self.v_threshold},
            ("r", "h"),
        )

    def to_nir(self, n: int, dt: float):
        """``n`` of these neurons as a ``nir.CubaLIF``, mapped as snnTorch's ``export_nir`` does:
        ``tau_syn = dt / (1 - alpha)``, ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``,
        ``w_in = tau_syn / dt``, ``v_leak = v_reset = 0`` (the Euler step at ``dt`` of NIR's CubaLIF is then
        this step). The model fires at ``v > v_threshold`` as NIR does, so the threshold is written as it is.
        NIR resets to ``v_reset`` in the spike's step, so only ``reset_mechanism="zero"`` with
        ``reset_delay=False`` has a NIR form (ValueError otherwise). A readout (``v_threshold = inf``, any
        reset) is NIR's ``nir.CubaLI`` with the same fields but the threshold and reset."""
        p, dt, n = self.resolve(_need_dt(dt)), _need_dt(dt), check_int("n", n, 1)
        if p.fires and (p.reset_mechanism != "zero" or p.reset_delay):
            raise ValueError(
                f"NIR's CubaLIF resets to v_reset = 0 in the spike's step: only reset_mechanism='zero' "
                f"with reset_delay=False has a NIR form, got reset_mechanism={p.reset_mechanism!r}, "
                f"reset_delay={p.reset_delay}"
            )
        with np.errstate(divide="ignore"):
            tau_syn, tau_mem = dt / (1.0 - np.float64(p.alpha)), dt / (1.0 - np.float64(p.beta))
        full = lambda value: np.full(n, float(value))  # noqa: E731
        nir = _nir()
        shared = {
            "tau_syn": full(tau_syn),
            "tau_mem": full(tau_mem),
            "r": full(tau_mem / dt),
            "v_leak": full(0.0),
            "w_in": full(tau_syn / dt),
        }
        if not p.fires:
            return nir.CubaLI(**shared)
        return nir.CubaLIF(**shared, v_threshold=full(p.v_threshold), v_reset=full(0.0))

    @classmethod
    def from_nir(cls, node, dt: float, *, name: str = "nir.CubaLIF") -> CubaLIFParams:
        """The model of a ``nir.CubaLIF`` (or ``nir.CubaLI``, a readout) node, read as snnTorch's ``import_nir``
        does (``alpha = 1 - dt / tau_syn``, ``beta = 1 - dt / tau_mem``, ``r = tau_mem / dt``, ``w_in = tau_syn /
        dt``, ``v_leak = 0``; reset to zero in the spike's step: ``reset_mechanism="zero"``,
        ``reset_delay=False``); a field off that mapping raises ValueError naming it."""
        dt = _need_dt(dt)
        _check_node(node, ("CubaLIF", "CubaLI"), name)
        fires = isinstance(node, _nir().CubaLIF)
        tau_syn, tau_mem = _uniform(node.tau_syn, f"{name}.tau_syn"), _uniform(node.tau_mem, f"{name}.tau_mem")
        expected = {"r": tau_mem / dt, "w_in": tau_syn / dt, "v_leak": 0.0} | ({"v_reset": 0.0} if fires else {})
        for field_name, value in expected.items():
            got = _uniform(getattr(node, field_name), f"{name}.{field_name}")
            if not np.isclose(got, value):
                raise ValueError(f"{name}.{field_name} must be {value:g} (snnTorch's Synaptic mapping), got {got}")
        return _built(
            name,
            cls,
            alpha=_snap(1.0 - dt / tau_syn),
            beta=_snap(1.0 - dt / tau_mem),
            v_threshold=_uniform(node.v_threshold, f"{name}.v_threshold") if fires else np.inf,
            reset_mechanism="zero",
            reset_delay=False,
        )


def neuron_from_nir(node, dt: float, *, name: str = "node") -> NeuronModel:
    """The neuron model of a NIR ``LIF``/``LI``, ``IF``/``I`` or ``CubaLIF``/``CubaLI`` node (``from_nir`` of its
    model; the non-spiking nodes are readouts, ``v_threshold = inf``). TypeError naming the node otherwise."""
    nir = _nir()
    for model, kinds in (
        (LIFParams, (nir.LIF, nir.LI)),
        (IFParams, (nir.IF, nir.I)),
        (CubaLIFParams, (nir.CubaLIF, nir.CubaLI)),
    ):
        if isinstance(node, kinds):
            return model.from_nir(node, dt, name=name)
    raise TypeError(
        f"{name} is nir.{type(node).__name__}; expected a nir.LIF, nir.IF or nir.CubaLIF (or a readout: nir.LI, nir.I, nir.CubaLI)"
    )


def nir_threshold(v_threshold: float) -> float:
    """The NIR threshold of the core's ``v >= v_threshold``: the float32 just below ``float32(v_threshold)``.

    NIR fires at ``v > θ``. No float32 lies strictly between ``θ⁻`` and ``θ``, so for a float32 ``v``
    ``v > θ⁻`` exactly when ``v >= θ`` (ε = one float32 step below θ, e.g. 2⁻²⁴ below 1.0): exact wherever the
    potential is float32, as in the core and in PyTorch-based consumers. ``±inf`` stay as they are."""
    theta = np.float32(v_threshold)
    return float(theta if np.isinf(theta) else np.nextafter(theta, np.float32(-np.inf)))


def core_threshold(v_threshold) -> float:
    """The core's threshold (``v >= θ⁺``) of NIR's ``v > v_threshold``: the float32 just above
    ``float32(v_threshold)``, the inverse of `nir_threshold` (a float32 ``v`` exceeds ``θ`` exactly when it
    reaches ``θ⁺``)."""
    theta = np.float32(v_threshold)
    up = theta if np.isinf(theta) else np.nextafter(theta, np.float32(np.inf))
    return float(str(up))  # the shortest decimal of that float32 (0.7, not 0.699999988079071): the same float32


# ---------------------------------------------------------------------------------------------- functional steps


def lif_step(x: np.ndarray, state: LIFState | None, params: LIFParams) -> tuple[np.ndarray, LIFState]:
    """One SpikingJelly ``LIFNode`` step (`LIFParams`) of float32 input ``x`` (any shape, e.g. ``[B, n]``)
    from ``state`` (None: at rest): ``(spikes as float32 0/1, LIFState)``. float32, in the kernel's order."""
    (v,) = _prepare(x, state, params, LIFParams, "lif_step")
    tau, v_th, reset = _F(params.tau), _F(params.v_threshold), _F(params._rest()[0])
    h = v + (x - (v - reset)) / tau if params.decay_input else v - (v - reset) / tau + x
    return _fire_and_reset(h, v_th, params.v_reset is None, reset, LIFState)


def if_step(x: np.ndarray, state: IFState | None, params: IFParams) -> tuple[np.ndarray, IFState]:
    """One SpikingJelly ``IFNode`` step (`IFParams`): ``H = V + X``, then fire and reset as `lif_step`."""
    (v,) = _prepare(x, state, params, IFParams, "if_step")
    return _fire_and_reset(v + x, _F(params.v_threshold), params.v_reset is None, _F(params._rest()[0]), IFState)


def _fire_and_reset(h, v_th, soft, reset, state_type):
    s = h - v_th >= 0
    v = np.where(s, h - v_th if soft else reset, h).astype(_F)
    return s.astype(_F), state_type(v)


def cuba_lif_step(x: np.ndarray, state: CubaLIFState | None, params: CubaLIFParams) -> tuple[np.ndarray, CubaLIFState]:
    """One snnTorch ``Synaptic`` step (`CubaLIFParams`) of float32 input ``x`` from ``state`` (None: at rest):
    ``(spikes as float32 0/1, CubaLIFState)``. float32, in the kernel's order."""
    v, i = _prepare(x, state, params, CubaLIFParams, "cuba_lif_step")
    alpha, beta, v_th = _F(params.alpha), _F(params.beta), _F(params.v_threshold)
    mechanism = params.reset_mechanism
    r = (v - v_th > 0).astype(_F)
    i = alpha * i + x
    h = beta * v + i
    # snnTorch's h − r·θ, written so that a readout (θ = ∞, r = 0) gives h, not 0·∞ = NaN; bit for bit the same
    v = np.where(r > 0, h - v_th, h) if mechanism == "subtract" else h - h * r if mechanism == "zero" else h
    s = (v - v_th > 0).astype(_F)
    if not params.reset_delay and mechanism != "none":
        d = s - r  # −1, 0 or 1: v − d·θ (subtract) or v − d·v (zero), and v itself where d = 0 (θ may be ∞)
        if mechanism == "subtract":
            v = np.where(d > 0, v - v_th, np.where(d < 0, v + v_th, v))
        else:
            v = v - d * v
    return s, CubaLIFState(v, i)


def _prepare(x, state, params, model, where: str) -> tuple[np.ndarray, ...]:
    """The state arrays of a functional step, checked against ``x`` (at rest when ``state`` is None)."""
    if not isinstance(params, model):
        raise TypeError(f"{where}: params must be a {model.__name__}, got {type(params).__name__}")
    params._steps(where)
    if not isinstance(x, np.ndarray) or x.dtype != _F:
        raise TypeError(
            f"{where}: x must be a float32 numpy array, got "
            f"{type(x).__name__}{'' if not isinstance(x, np.ndarray) else ' of ' + str(x.dtype)}"
        )
    if state is None:
        return tuple(np.full(x.shape, rest, _F) for rest in params._rest())
    if not isinstance(state, tuple) or len(state) != len(model.state_vars):
        raise TypeError(f"{where}: state must be a {model.State.__name__}{model.state_vars} or None")
    for name, value in zip(model.state_vars, state):
        if not isinstance(value, np.ndarray) or value.dtype != _F or value.shape != x.shape:
            raise ValueError(
                f"{where}: state.{name} must be a float32 array of x's shape {x.shape}, got "
                f"{getattr(value, 'dtype', type(value).__name__)} {getattr(value, 'shape', '')}"
            )
    return tuple(state)


# ---------------------------------------------------------------------------------------------- helpers


def _check_threshold_reset(v_threshold, v_reset) -> None:
    if np.isnan(check_float32("v_threshold", v_threshold)):
        raise ValueError("v_threshold must not be NaN")
    if v_reset is not None and not np.isfinite(check_float32("v_reset", v_reset)):
        raise ValueError(f"v_reset must be finite or None (soft reset), got {v_reset}")


def _check_seconds(name: str, value, allow_inf: bool = False) -> None:
    value = check_float32(name, value)
    if not (value > 0 and (allow_inf or np.isfinite(value))):
        raise ValueError(f"{name} must be a positive{'' if allow_inf else ' finite'} number of seconds, got {value}")


def _steps_of(name: str, tau_s: float, dt: float, inv: bool = False) -> float:
    """``tau_s / dt`` in steps (at least 1), or with ``inv`` its inverse ``dt / tau_s``; `_snap`-ed."""
    steps = tau_s / dt
    if steps < 1.0:
        raise ValueError(f"{name} = {tau_s:g} s is {steps:g} steps of dt = {dt:g} s; it must be at least one step")
    return _snap(1.0 / steps if inv else steps)


def _decay_of(decay: float | None, name: str, tau_s: float | None, dt: float) -> float | None:
    """A decay per step: ``decay`` as given, or ``1 - dt / tau_s`` when given in seconds (``tau_s``)."""
    return decay if tau_s is None else 1.0 - _steps_of(name, tau_s, dt, inv=True)


def _snap(x: float) -> float:
    """``x`` to 12 significant digits: a value computed through seconds and back (``tau_s / dt``,
    ``1 - dt / tau``) reads as the number it was written as (float32, which the kernel uses, keeps 7)."""
    return float(f"{x:.12g}")


def _brian2_reset(v_reset) -> str:
    return "v = v - v_th" if v_reset is None else "v = 0" if v_reset == 0.0 else "v = v_reset"


def _v_reset_name(v_reset) -> dict:
    return {} if v_reset is None or v_reset == 0.0 else {"v_reset": v_reset}


def _need_dt(dt) -> float:
    dt = check_dt(dt)
    if dt is None:
        raise ValueError("dt (seconds per step) is required for NIR, whose time constants are in seconds")
    return dt


def _nir():
    from sdrnet.optional import require

    return require("nir", "sdrnet.core.neurons")


def _check_node(node, kinds: tuple[str, ...], name: str) -> None:
    if not isinstance(node, tuple(getattr(_nir(), kind) for kind in kinds)):
        raise TypeError(f"{name} must be a nir.{' or nir.'.join(kinds)}, got nir.{type(node).__name__}")


def _built(name: str, model: type[_M], **fields) -> _M:
    """``model(**fields)`` read from NIR node ``name``: a value the model refuses raises ValueError naming the node."""
    try:
        return model(**fields)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"NIR node {name!r}: {exc}") from None


def _uniform(values, name: str) -> float:
    arr = np.asarray(values, np.float64).ravel()
    if arr.size == 0 or not np.all(arr == arr[0]):
        raise ValueError(f"{name} must be the same for every neuron of a layer (one neuron model), got {arr[:5]}...")
    return float(arr[0])
