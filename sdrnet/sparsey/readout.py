"""Labels for stored Sparsey codes, k-NN over code overlap, and a scikit-learn classifier."""

from __future__ import annotations

import time
from collections.abc import Sequence
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from tqdm.auto import tqdm

from ..core import Synapses, overlap
from ..core.validation import as_array, check_int, check_rng
from ..sdr import SDR, SDRBatch
from .csa import CSAParams
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


# the CSA of the digits experiment (sdrnet.sparsey.experiments.DIGITS_LEVELS): sharper than the defaults, it
# keeps noisy copies of a stored input on that input's code
DEFAULT_CSA = CSAParams(sigmoid_center=0.8, familiarity_min=0.3)


class SparseyClassifier(ClassifierMixin, BaseEstimator):
    """Single-trial Sparsey learning on images with a k-NN readout over the codes (a scikit-learn classifier).

    ``fit`` binarises each image (``x > threshold``, 0 by default as in scikit-learn's ``Binarizer``, so 0/1
    images stay as they are; ``threshold=None``: the images must already be binary) and presents it once, in
    learning mode, to a :class:`Hierarchy`: every level chooses a code with the CSA and learns it in one trial.
    It then labels the recognition-mode codes (argmax V, no sampling, no learning) of the training images, so
    stored and queried codes come from the same deterministic mapping; ``readout_codes='learned'`` labels the
    learning-mode codes instead. ``predict`` votes among the ``k`` labelled codes that overlap most with an
    image's recognition-mode code.

    ``image_shape``: (H, W) or (H, W, C) of the flattened rows of X (None: each row is a 1 × n_features image).
    ``levels``: the :class:`LevelSpec` of each level (None: one macrocolumn of ``Q × K`` = 8 × 8 cells reading
    the whole image, with the CSA parameters `DEFAULT_CSA`). The labels may be anything scikit-learn
    classifies (integers, strings). scikit-learn's ``check_estimator`` passes, with the ``poor_score`` tag.

    Learned attributes: ``classes_``, ``n_features_in_``, ``hierarchy_``, ``readout_`` (over label indices
    into ``classes_``), ``familiarity_`` (mean G per level of the training inputs as they were learned),
    ``saturation_`` (max mac saturation per level), ``fit_time_`` (s).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...] | None = None,
        levels: Sequence[LevelSpec] | None = None,
        *,
        threshold: float | None = 0.0,
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # one threshold per feature keeps little of generic real-valued data: Sparsey codes sparse binary inputs
        tags.classifier_tags.poor_score = True
        return tags

    def _binary(self, X) -> np.ndarray:
        if self.threshold is not None:
            return X > self.threshold
        if not np.isin(X, (0, 1)).all():
            raise ValueError("X must be binary (0/1) when threshold=None; pass threshold= to binarise")
        return X.astype(bool)

    def _check_params(self, n_features: int) -> tuple[tuple[int, ...], Sequence[LevelSpec]]:
        """The image shape and levels to build, with the parameters checked against X's ``n_features``."""
        if self.readout_codes not in ("recognition", "learned"):
            raise ValueError(f"readout_codes must be 'recognition' or 'learned', got {self.readout_codes!r}")
        if self.threshold is not None and not (isinstance(self.threshold, Real) and np.isfinite(self.threshold)):
            raise ValueError(f"threshold must be a finite number or None, got {self.threshold!r}")
        shape = (1, n_features) if self.image_shape is None else tuple(self.image_shape)
        if int(np.prod(shape)) != n_features:
            raise ValueError(
                f"X must have shape [n_samples, {int(np.prod(shape))}] (images of {shape}), got {n_features} features"
            )
        levels = (LevelSpec(Q=8, K=8, patch=shape[:2], params=DEFAULT_CSA),) if self.levels is None else self.levels
        return shape, levels

    def fit(self, X, y) -> SparseyClassifier:
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        shape, levels = self._check_params(X.shape[1])
        X = self._binary(X)
        rng = (
            self.random_state
            if isinstance(self.random_state, np.random.Generator)
            else np.random.default_rng(self.random_state)
        )
        check_rng(rng)
        start = time.perf_counter()
        self.classes_, labels = np.unique(y, return_inverse=True)
        self.hierarchy_ = Hierarchy(shape, levels)
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
        self.readout_ = CodeReadout(self.k).fit(stored, labels)
        self.fit_time_ = time.perf_counter() - start
        self.familiarity_ = np.mean(G, axis=0)
        self.saturation_ = np.array([level.saturation.max() for level in self.hierarchy_.levels])
        return self

    def codes(self, X) -> SDRBatch:
        """Recognition-mode codes of all levels for a batch of images."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.hierarchy_.as_sdr(self.hierarchy_.recognize(self._binary(X)))

    def predict(self, X) -> np.ndarray:
        codes = self.codes(X)  # checks the fit first
        return self.classes_[self.readout_.predict(codes)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of :meth:`predict` on ``X`` against ``y`` (weighted by ``sample_weight`` if given)."""
        predicted, y = self.predict(X), column_or_1d(y)
        if y.shape != predicted.shape:
            raise ValueError(f"y must have one label per row of X ({predicted.shape[0]}), got {y.shape[0]}")
        return float(accuracy_score(y, predicted, sample_weight=sample_weight))
