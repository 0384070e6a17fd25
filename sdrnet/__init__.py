"""sdrnet: biologically-inspired sparse computing on one event-driven sparse core.

The core (`sdrnet.core`) holds events and synapses and the kernels that move
events through synapses; the model families (`sdrnet.sparsey`, `sdrnet.prune`,
`dendrites`, `snn`) are thin layers on it.
"""

__version__ = "0.1.0"
