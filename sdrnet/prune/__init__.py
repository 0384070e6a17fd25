"""Pruning conventional networks for neuromorphic targets, on the sparse core.

Prune (one-shot magnitude, random ERK, gradual, lottery tickets, prune-and-regrow, N:M, whole units),
fine-tune, export to the event-driven core with the zeros not stored, run sparse, quantise, check a
chip's limits and write NIR. Masks follow ``torch.nn.utils.prune`` (``weight_mask`` buffers, composable)
but keep ``weight`` a plain parameter, so ``state_dict``, ``deepcopy`` and strict loading work.

>>> import torch
>>> from sdrnet import prune
>>> torch.manual_seed(0) and None
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
>>> prune.magnitude_prune(model, 0.75, scope="global")   # one threshold; the readout (last Linear) stays dense
>>> {name: round(s, 2) for name, s in prune.sparsity(model)["layers"].items()}
{'0.weight': 0.75, '2.weight': 0.0}
>>> core = prune.to_core(model)   # a CoreMLP on sdrnet.core.Synapses, zeros not stored (= sdrnet.core.to_core)
>>> x = torch.randn(5, 8)
>>> bool(abs(core.run(x).output - model(x).detach().numpy()).max() < 1e-5)
True
"""

from sdrnet.optional import require

require("torch", "sdrnet.prune")

from .export import (  # noqa: E402
    READOUT,
    CoreMLP,
    check_bits,
    core_forward,
    quantize,
    quantize_network,
    quantize_synapses,
    to_core,
    weight_bits,
)

# `masks.targets` (the prunable (module, name) pairs) is not re-exported: here `targets` is the submodule
# `sdrnet.prune.targets` (the hardware profiles)
from .masks import (  # noqa: E402
    PRUNABLE,
    dense_state_dict,
    effective_weight,
    from_torch_prune,
    get_mask,
    is_pruned,
    layer_names,
    load_pruned,
    readout,
    remove,
    rezero,
    rezero_after_step,
    set_mask,
    sparsity,
    to_torch_prune,
)
from .methods import (  # noqa: E402
    SRSTE,
    GradualPruning,
    LotteryTicket,
    PruneRegrow,
    check_finite,
    check_sparsity,
    cubic_sparsity,
    layer_densities,
    magnitude_prune,
    nm_mask,
    nm_prune,
    random_prune,
)
from .structured import module_graph, prune_neurons, unit_groups  # noqa: E402
from .targets import (  # noqa: E402
    LOIHI,
    PROFILES,
    SPINNAKER,
    XYLO,
    FitResult,
    TargetError,
    TargetProfile,
    Violation,
    check,
    check_sizes,
    fit_to_target,
    report,
)

__all__ = [
    "PRUNABLE",
    "readout",
    "layer_names",
    "get_mask",
    "set_mask",
    "is_pruned",
    "remove",
    "rezero",
    "rezero_after_step",
    "effective_weight",
    "sparsity",
    "from_torch_prune",
    "to_torch_prune",
    "load_pruned",
    "dense_state_dict",
    "check_sparsity",
    "check_finite",
    "magnitude_prune",
    "random_prune",
    "layer_densities",
    "nm_mask",
    "nm_prune",
    "cubic_sparsity",
    "GradualPruning",
    "LotteryTicket",
    "PruneRegrow",
    "SRSTE",
    "module_graph",
    "unit_groups",
    "prune_neurons",
    "CoreMLP",
    "to_core",
    "core_forward",
    "READOUT",
    "quantize",
    "quantize_synapses",
    "quantize_network",
    "weight_bits",
    "check_bits",
    "TargetProfile",
    "Violation",
    "TargetError",
    "LOIHI",
    "XYLO",
    "SPINNAKER",
    "PROFILES",
    "check",
    "check_sizes",
    "report",
    "fit_to_target",
    "FitResult",
]
