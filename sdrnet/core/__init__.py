"""The event-driven sparse core: events, synapses and the kernels that move events through synapses.

Imports numpy and numba only; torch, scipy and networkx are imported inside the
conversions that need them. Kernels compile on first call and are cached on disk.
They run on numba's threads (`set_num_threads`, ``NUMBA_NUM_THREADS``) with the same
results for every thread count, in blocks sized for the L2 cache (`set_cache_size`).

>>> import numpy as np
>>> from sdrnet.core import Events, Synapses, propagate
>>> syn = Synapses.from_dense([[0.5, 0.0], [0.0, 2.0]], delay=[[1, 0], [0, 0]])
>>> ev = Events.from_dense(np.array([[1, 1], [0, 0]], np.float32))
>>> propagate(ev, syn)[:, 0, :].tolist()
[[0.0, 2.0], [0.5, 0.0], [0.0, 0.0]]
"""

from .events import Events
from .network import Layer, Network, NetworkState
from .neurons import (
    Brian2Model,
    CubaLIFParams,
    CubaLIFState,
    IFParams,
    IFState,
    LIFParams,
    LIFState,
    NeuronModel,
    cuba_lif_step,
    if_step,
    lif_step,
    neuron_from_nir,
)
from .ops import MatmulResult, kwta, overlap, propagate, sparse_matmul
from .parallel import get_cache_size, get_num_threads, set_cache_size, set_num_threads
from .protocol import CoreModel, RunResult, register_core, registered_cores, to_core
from .synapses import FanIn, Synapses

__all__ = [
    "Events",
    "Synapses",
    "FanIn",
    "propagate",
    "overlap",
    "kwta",
    "sparse_matmul",
    "MatmulResult",
    "Network",
    "Layer",
    "NetworkState",
    "CoreModel",
    "to_core",
    "register_core",
    "registered_cores",
    "LIFParams",
    "IFParams",
    "CubaLIFParams",
    "NeuronModel",
    "LIFState",
    "IFState",
    "CubaLIFState",
    "Brian2Model",
    "lif_step",
    "if_step",
    "cuba_lif_step",
    "neuron_from_nir",
    "RunResult",
    "set_num_threads",
    "get_num_threads",
    "set_cache_size",
    "get_cache_size",
]
