"""Where a classifier goes wrong: its confusion matrix and mistakes on the test split.

Computed once per trial after training (one `model.predict` pass), with scikit-learn's
`confusion_matrix` and `precision_recall_fscore_support`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from tuilab.runtime.events import ClassificationReport, ConfusedPair, Mistake

MISTAKES_KEPT = 50
"""The most confident mistakes a report lists (events.jsonl stays small)."""
PAIRS_KEPT = 10
"""The most frequent (true, predicted) confusions a report lists."""


def class_indices(labels: np.ndarray, classes: int) -> np.ndarray | None:
    """Integer labels from int or one-hot labels; None when they are neither."""
    if labels.ndim == 2 and labels.shape[1] == classes:
        return labels.argmax(axis=1)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        return labels.astype(np.int64)
    return None


def probabilities(outputs: np.ndarray, classes: int) -> np.ndarray | None:
    """Per-class probabilities from a model's outputs (softmax of logits; a single sigmoid
    unit for two classes); None when the outputs are not one score per class."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 2 and outputs.shape[1] == 1 and classes == 2:
        outputs = np.concatenate([1.0 - outputs, outputs], axis=1)
    if outputs.ndim != 2 or outputs.shape[1] != classes or not np.isfinite(outputs).all():
        return None
    if outputs.min() < 0.0 or outputs.max() > 1.0:  # logits: the model ends without softmax
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        outputs = shifted / shifted.sum(axis=1, keepdims=True)
    return outputs


def build_report(
    trial: str,
    labels: list[str],
    y_true: np.ndarray,
    probs: np.ndarray,
    keep: int = MISTAKES_KEPT,
) -> ClassificationReport:
    """The report of integer labels `y_true` against per-class probabilities `probs`."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    classes = list(range(len(labels)))
    y_pred = probs.argmax(axis=1)
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    flat = sorted(
        ((int(off[i, j]), i, j) for i in classes for j in classes if off[i, j]),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    pairs = [ConfusedPair(true=i, predicted=j, count=n) for n, i, j in flat[:PAIRS_KEPT]]
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = probs[wrong, y_pred[wrong]]
    order = wrong[np.lexsort((wrong, -confidence))][:keep]
    mistakes = [
        Mistake(
            index=int(i),
            true=int(y_true[i]),
            predicted=int(y_pred[i]),
            confidence=float(probs[i, y_pred[i]]),
        )
        for i in order
    ]
    return ClassificationReport(
        trial,
        list(labels),
        matrix.astype(int).tolist(),
        [float(v) for v in precision],
        [float(v) for v in recall],
        [float(v) for v in f1],
        [int(v) for v in support],
        float(np.trace(matrix) / max(len(y_true), 1)),
        pairs,
        mistakes,
        len(wrong),
    )


def classification_report(
    trial: str, model: Any, x: np.ndarray, y: np.ndarray, labels: list[str], batch_size: int
) -> ClassificationReport | None:
    """Predict `x` once and report; None when the model is not a classifier of `labels`."""
    y_true = class_indices(y, len(labels))
    if len(labels) < 2 or y_true is None or len(y_true) == 0:
        return None
    started = time.perf_counter()
    outputs = model.predict(x, batch_size=batch_size, verbose=0)
    probs = probabilities(outputs, len(labels)) if isinstance(outputs, np.ndarray) else None
    if probs is None or len(probs) != len(y_true):
        return None
    report = build_report(trial, labels, y_true, probs)
    return replace(report, seconds=time.perf_counter() - started)
