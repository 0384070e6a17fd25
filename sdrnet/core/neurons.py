"""Neuron models of the core, as data: each model's parameters, from which the kernels, the exports and
the functional steps are derived."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import check_float32

__all__ = ["LIFParams"]


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a leaky integrate-and-fire neuron, exactly as SpikingJelly's ``LIFNode``.

    Charge (discrete time, SpikingJelly ``neuron.LIFNode``)::

        decay_input=True:   H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau
        decay_input=False:  H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]

    fire ``S[t] = H[t] >= v_threshold``; reset ``V[t] = V_reset`` if ``S[t]`` (hard reset) or
    ``V[t] = H[t] - v_threshold`` (soft reset, ``v_reset=None``, where V_reset above reads 0).
    ``v_threshold=inf`` gives a non-spiking readout whose membrane potential is the output.
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True

    def __post_init__(self):
        if not (np.isfinite(check_float32("tau", self.tau)) and self.tau >= 1.0):
            raise ValueError(f"tau must be a finite number >= 1 (time steps), got {self.tau}")
        if np.isnan(check_float32("v_threshold", self.v_threshold)):
            raise ValueError("v_threshold must not be NaN")
        if self.v_reset is not None and not np.isfinite(check_float32("v_reset", self.v_reset)):
            raise ValueError(f"v_reset must be finite or None (soft reset), got {self.v_reset}")
        if not isinstance(self.decay_input, (bool, np.bool_)):
            raise TypeError(f"decay_input must be a bool, got {type(self.decay_input).__name__}: {self.decay_input!r}")

    code = 0  # `sdrnet.core.kernels.neuron_step`
    state_vars = ("v",)

    @property
    def fires(self) -> bool:
        """False for a readout (``v_threshold = inf``): its membrane potential is its output."""
        return bool(np.isfinite(self.v_threshold))

    def resolve(self, dt: float | None) -> LIFParams:
        """This model in steps."""
        return self

    def kernel_constants(self) -> np.ndarray:
        """``[tau, v_threshold, v_reset (0 if soft), soft, decay_input, 0, 0, 0]`` in float32."""
        reset = 0.0 if self.v_reset is None else self.v_reset
        return np.array([self.tau, self.v_threshold, reset, self.v_reset is None, self.decay_input, 0, 0, 0],
                        np.float32)

    def init_state(self, n: int) -> np.ndarray:
        """``[1, n]``: every membrane potential at ``v_reset`` (0 for a soft reset)."""
        return np.full((1, n), 0.0 if self.v_reset is None else self.v_reset, np.float32)
