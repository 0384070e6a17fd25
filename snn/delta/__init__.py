"""Delta activation layers and temporal sparsity (Yousefzadeh & Sifalakis, "Training for temporal sparsity in
deep neural networks, application in video processing", arXiv 2107.07305).

Layers (`layers`): `DeltaActivation` (trainable quantiser, ``q = θ·round(x/θ)``, ``Δ_t = q_t − q_{t−1}``),
`ThresholdDelta` (send Δ only where ``|Δ| ≥ θ``, carry the residual), `insert_delta`, `delta_penalty`,
`sigma_delta`. Metrics with NeuroBench's definitions (`metrics`). Event-driven inference on the core
(`event_driven`). The moving-digits video task (`video`) and the experiment (`experiment`).
"""

from sdrnet.optional import require

require("torch", "snn.delta")

from .event_driven import DeltaRunResult, EventDrivenNet, EventRun, conv2d_to_synapses, linear_to_synapses  # noqa: E402
from .layers import (  # noqa: E402
    Accumulate,
    DeltaActivation,
    ThresholdDelta,
    TimeDistributed,
    delta_layers,
    delta_penalty,
    insert_delta,
    quantize,
    sigma_delta,
    temporal_delta,
)
from .metrics import activation_sparsity, synaptic_operations, temporal_sparsity  # noqa: E402
from .video import accuracy, clip_cnn, clip_logits, moving_digit_clips, train  # noqa: E402

__all__ = [
    "DeltaActivation",
    "ThresholdDelta",
    "TimeDistributed",
    "Accumulate",
    "quantize",
    "temporal_delta",
    "insert_delta",
    "sigma_delta",
    "delta_penalty",
    "delta_layers",
    "activation_sparsity",
    "temporal_sparsity",
    "synaptic_operations",
    "EventDrivenNet",
    "DeltaRunResult",
    "EventRun",
    "conv2d_to_synapses",
    "linear_to_synapses",
    "moving_digit_clips",
    "clip_cnn",
    "clip_logits",
    "train",
    "accuracy",
]
