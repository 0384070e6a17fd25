"""Dendritic pattern recognition on sparse distributed representations (Ahmad & Hawkins 2016: closed forms in
`theory`, neurons with segments in `neuron`, Monte Carlo in `simulate`, a Brian2 model in `brian2_model`) and
active-dendrite networks for continual learning (Iyer et al. 2022: `nn`, `continual`).

The main names are here (``dendrites.false_match``, ``dendrites.DendriticNeuron``, ``dendrites.DendriticMLP``,
...); each is imported from its module when first used, so ``import dendrites`` loads neither torch nor
the core.
"""

from sdrnet.lazy import lazy_exports

# name -> the module of this package that defines it
_WHERE = {
    **dict.fromkeys(
        (
            "overlap_set_size",
            "false_match",
            "log_false_match",
            "false_negative",
            "log_false_negative",
            "union_synapses",
            "union_active",
            "union_size_pmf",
            "union_false_match",
            "ThresholdAnalysis",
            "threshold_analysis",
        ),
        "theory",
    ),
    **dict.fromkeys(("DendriticPopulation", "DendriticNeuron", "segment_matches", "overlap_histogram"), "neuron"),
    **dict.fromkeys(
        ("MonteCarlo", "simulate_false_match", "simulate_false_negative", "simulate_union_false_match"), "simulate"
    ),
    **dict.fromkeys(
        ("DendriteSegments", "DendriticLayer", "KWinners", "SparseWeights", "DendriticMLP", "CoreDendriticMLP"), "nn"
    ),
    "simulate_brian2": "brian2_model",
}
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
