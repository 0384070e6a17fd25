"""Labels for stored Sparsey codes, k-NN over code overlap, and an sklearn-style classifier."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from ..core import Synapses, overlap
from ..core.validation import as_array, check_int, check_rng
from ..sdr import SDR, SDRBatch
from .hierarchy import Hierarchy, LevelSpec


class CodeReadout:
    """k nearest stored codes by overlap (number of shared cells), majority vote weighted by overlap.

    The stored codes are the presynaptic side of a core ``Synapses`` (cell → stored item), so the
    overlaps of a batch of query codes with every stored code are one ``overlap`` pass.
    Ties in the vote go to the smaller label.
    """

    def __init__(self, k: int = 1):
        self.k = k

    def fit(self, codes: SDRBatch, labels) -> CodeReadout:
        check_int("k", self.k, 1)
        if not isinstance(codes, SDRBatch):
            raise TypeError(f"codes must be an SDRBatch (e.g. Level.as_sdr of a batch), got {type(codes).__name__}")
        labels = as_array("labels", labels, kind="i", ndim=1)
        if labels.shape[0] != len(codes):
            raise ValueError(f"labels must have one entry per code ({len(codes)}), got {labels.shape[0]}")
        self.classes_, self.labels_ = np.unique(labels, return_inverse=True)
        items = np.repeat(np.arange(len(codes)), np.diff(codes.indptr))
        self.memory_ = Synapses.from_edges(codes.indices, items, n_pre=codes.n, n_post=len(codes))
        return self

    def overlaps(self, codes: SDR | SDRBatch) -> np.ndarray:
        """Overlap of each query code with every stored code, int ``[B, n_stored]``."""
        if not hasattr(self, "memory_"):
            raise RuntimeError("CodeReadout is not fitted; call fit(codes, labels) first")
        batch = codes if isinstance(codes, SDRBatch) else SDRBatch.from_sdrs([codes])
        if batch.n != self.memory_.n_pre:
            raise ValueError(f"codes must have n={self.memory_.n_pre} cells, got {batch.n}")
        return overlap(batch.as_active_lists(), self.memory_)

    def predict(self, codes: SDR | SDRBatch) -> np.ndarray:
        ov = self.overlaps(codes)
        k = min(self.k, ov.shape[1])
        nearest = np.argpartition(-ov, k - 1, axis=1)[:, :k]
        votes = np.zeros((ov.shape[0], self.classes_.shape[0]))
        np.add.at(
            votes,
            (np.arange(ov.shape[0])[:, None], self.labels_[nearest]),
            np.take_along_axis(ov, nearest, axis=1) + 1e-9,
        )
        return self.classes_[np.argmax(votes, axis=1)]


class SparseyClassifier:
    """Single-trial Sparsey learning on images with a k-NN readout over the codes (sklearn style).

    ``fit`` binarises each image (``x > threshold``; ``threshold=None``: the images must already be
    binary) and presents it once, in learning mode, to a :class:`Hierarchy`: every level chooses a code
    with the CSA and learns it in one trial. It then labels the recognition-mode codes (argmax V, no
    sampling, no learning) of the training images, so stored and queried codes come from the same
    deterministic mapping; ``readout_codes='learned'`` labels the learning-mode codes instead. ``predict``
    votes among the ``k`` labelled codes that overlap most with an image's recognition-mode code.

    Learned attributes: ``hierarchy_``, ``readout_``, ``familiarity_`` (mean G per level of the
    training inputs as they were learned), ``saturation_`` (max mac saturation per level), ``fit_time_`` (s).
    """

    def __init__(
        self,
        image_shape: tuple[int, int],
        levels: Sequence[LevelSpec],
        *,
        threshold: float | None = None,
        k: int = 1,
        readout_codes: str = "recognition",
        random_state: int | np.random.Generator = 0,
        progress: bool = False,
    ):
        self.image_shape = image_shape
        self.levels = levels
        self.threshold = threshold
        self.k = k
        self.readout_codes = readout_codes
        self.random_state = random_state
        self.progress = progress

    def _binary(self, X) -> np.ndarray:
        X = as_array("X", X, kind="f", ndim=2)
        n = int(np.prod(self.image_shape))
        if X.shape[1] != n:
            raise ValueError(f"X must have shape [n_samples, {n}] (images of {tuple(self.image_shape)}), got {X.shape}")
        if self.threshold is not None:
            return X > self.threshold
        if not np.isin(X, (0, 1)).all():
            raise ValueError("X must be binary (0/1) when threshold=None; pass threshold= to binarise")
        return X.astype(bool)

    def fit(self, X, y) -> SparseyClassifier:
        if self.readout_codes not in ("recognition", "learned"):
            raise ValueError(f"readout_codes must be 'recognition' or 'learned', got {self.readout_codes!r}")
        X = self._binary(X)
        y = as_array("y", y, kind="i", ndim=1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have one label per row of X ({X.shape[0]}), got {y.shape[0]}")
        rng = (
            self.random_state
            if isinstance(self.random_state, np.random.Generator)
            else np.random.default_rng(self.random_state)
        )
        check_rng(rng)
        start = time.perf_counter()
        self.hierarchy_ = Hierarchy(tuple(self.image_shape), self.levels)
        rows, G = [], []
        for x in tqdm(X, desc="sparsey: single-trial learning", disable=not self.progress, leave=False):
            codes = self.hierarchy_.learn(x, rng)
            if self.readout_codes == "learned":
                rows.append(self.hierarchy_.as_sdr(codes))
            G.append([float(np.mean(c.familiarity[c.active])) if c.active.any() else 0.0 for c in codes])
        stored = (
            SDRBatch.from_sdrs(rows, self.hierarchy_.n_cells)
            if self.readout_codes == "learned"
            else self.hierarchy_.as_sdr(self.hierarchy_.recognize(X))
        )
        self.readout_ = CodeReadout(self.k).fit(stored, y)
        self.fit_time_ = time.perf_counter() - start
        self.familiarity_ = np.mean(G, axis=0)
        self.saturation_ = np.array([level.saturation.max() for level in self.hierarchy_.levels])
        return self

    def codes(self, X) -> SDRBatch:
        """Recognition-mode codes of all levels for a batch of images."""
        if not hasattr(self, "hierarchy_"):
            raise RuntimeError("SparseyClassifier is not fitted; call fit(X, y) first")
        return self.hierarchy_.as_sdr(self.hierarchy_.recognize(self._binary(X)))

    def predict(self, X) -> np.ndarray:
        return self.readout_.predict(self.codes(X))

    def score(self, X, y) -> float:
        """Accuracy of :meth:`predict` on ``X`` against ``y``."""
        predicted, y = self.predict(X), as_array("y", y, kind="i", ndim=1)
        if y.shape != predicted.shape:
            raise ValueError(f"y must have one label per row of X ({predicted.shape[0]}), got {y.shape[0]}")
        return float(np.mean(predicted == y))
