"""The served model's trees as flat arrays, walked for every tree at once: scikit-learn's
``HistGradientBoostingClassifier.predict_proba`` without its per-call and per-tree costs.

For one row, scikit-learn spends ~1 ms on the bench model (100 trees of depth 6): one compiled call per tree,
each allocating its output and entering an OpenMP region (~8 us), plus input validation (~0.2 ms, most of it
checking whether the input is a dataframe of some library). Here the nodes of all trees are concatenated once,
and a batch descends every tree in lockstep, one level per step, in a few numpy operations: ~50 us for one row.

The result is the same to the bit: the same comparisons (a NaN goes where the node's ``missing_go_to_left``
says, else ``x <= threshold`` goes left), the leaf values added in scikit-learn's order (from the baseline,
tree after tree) and the same logistic function. Only what this walk covers is compiled: binary
classification without categorical splits; any other model returns None and is scored by its own
``predict_proba``. Large batches (batch transform's) go to scikit-learn as well: its loop over rows is faster
there, and the lockstep walk holds rows x trees node indices.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

MAX_ROWS = 256
"""Batches up to this many rows are walked here (on the bench machine the walk and scikit-learn cost the same at
~500 rows); the server's batches of concurrent requests are far smaller."""


class Trees:
    """A fitted binary HistGradientBoostingClassifier's trees: leaves point to themselves, so walking
    ``depth`` levels from every root ends on each tree's leaf whatever its depth."""

    def __init__(self, classifier):
        nodes = [predictors[0].nodes for predictors in classifier._predictors]
        offsets = np.cumsum([0, *(len(n) for n in nodes)])
        every = np.concatenate(nodes)
        own = np.arange(len(every))
        leaf = every["is_leaf"].astype(bool)
        shift = np.repeat(offsets[:-1], [len(n) for n in nodes])
        left = np.where(leaf, own, every["left"].astype(np.intp) + shift)
        right = np.where(leaf, own, every["right"].astype(np.intp) + shift)
        # A node is known by twice its index, so its children are at children[node] (left) and
        # children[node + 1] (right); the per-node arrays are repeated to be indexed the same way.
        self.children = np.column_stack([2 * left, 2 * right]).ravel()
        self.feature = np.repeat(np.where(leaf, 0, every["feature_idx"]).astype(np.intp), 2)
        self.threshold = np.repeat(every["num_threshold"].astype(np.float64), 2)
        self.missing_right = np.repeat(every["missing_go_to_left"] == 0, 2)
        self.value = np.repeat(every["value"].astype(np.float64), 2)
        self.roots = 2 * offsets[:-1].astype(np.intp)
        self.depth = int(every["depth"].max())
        self.features = int(classifier.n_features_in_)
        self.baseline = float(np.asarray(classifier._baseline_prediction).ravel()[0])

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """The sum of the leaves each row reaches, baseline first (scikit-learn's ``_raw_predict``)."""
        rows = len(matrix)
        flat = np.ascontiguousarray(matrix, dtype=np.float64).ravel()
        base = (np.arange(rows, dtype=np.intp) * self.features)[:, None]
        node = np.broadcast_to(self.roots, (rows, len(self.roots)))
        missing = np.isnan(flat).any()
        for _ in range(self.depth):
            values = flat[base + self.feature[node]]
            right = values > self.threshold[node]  # False for NaN, which goes where the node says
            if missing:
                right = np.where(np.isnan(values), self.missing_right[node], right)
            node = self.children[node + right]
        leaves = self.value[node]
        sums = np.empty((rows, leaves.shape[1] + 1))
        sums[:, 0] = self.baseline
        sums[:, 1:] = leaves
        return np.cumsum(sums, axis=1)[:, -1]  # one addition after another, as scikit-learn adds them

    def churn_probability(self, matrix: np.ndarray) -> np.ndarray:
        return expit(self.raw(matrix))


def compile_trees(classifier) -> Trees | None:
    """The walk for ``classifier`` when it is a model this module reproduces exactly, else None."""
    from sklearn._loss.loss import HalfBinomialLoss
    from sklearn.ensemble import HistGradientBoostingClassifier

    if (not isinstance(classifier, HistGradientBoostingClassifier)
            or getattr(classifier, "n_trees_per_iteration_", 0) != 1):
        return None
    if not isinstance(getattr(classifier, "_loss", None), HalfBinomialLoss):
        return None
    categorical = getattr(classifier, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        return None
    if any(len(tree) != 1 or tree[0].nodes["is_categorical"].any() for tree in classifier._predictors):
        return None
    return Trees(classifier)
