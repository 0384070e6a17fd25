"""Spiking networks with learnable synaptic delays (DCLS; Hammouamri, Khalfaoui-Hassani & Masquelier 2023) and
delta activation layers (`snn.delta`), on the sparse core of `sdrnet`.

The main names are here (``snn.DelayedLinear``, ``snn.DelaySNN(snn.SNNConfig(...))``, ``snn.load_shd``, ...);
each is imported from its module when first used, so ``import snn`` loads neither torch nor the core.
The modules: `data` (SHD/SSC, the built-in timing task; numpy only), `delays`, `models`, `train`, `export`
(to the core, NIR and Brian2), `experiments`, `reference`, `delta`.
"""

from sdrnet.lazy import lazy_exports

# name -> the module of this package that defines it
_WHERE = {
    **dict.fromkeys(("DelayedLinear", "delayed_linear", "sigma_at"), "delays"),
    **dict.fromkeys(("DelaySNN", "SNNConfig", "sum_softmax", "snn_loss"), "models"),
    **dict.fromkeys(
        (
            "SpikeDataset",
            "SpikeDataError",
            "load_shd",
            "load_ssc",
            "read_spike_h5",
            "write_spike_h5",
            "bin_spikes",
            "holdout",
            "batches",
            "timing_task",
            "fetch",
        ),
        "data",
    ),
    **dict.fromkeys(
        (
            "TrainConfig",
            "RECIPES",
            "CheckpointError",
            "TrainingDiverged",
            "load_datasets",
            "load_checkpoint",
            "load_model",
            "evaluate",
        ),
        "train",
    ),
    **dict.fromkeys(("DelaySNNCore", "to_nir", "run_brian2"), "export"),
}
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
