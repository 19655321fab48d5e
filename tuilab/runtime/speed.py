"""Speed settings resolved for one trial: steps per epoch, and steps per call into Keras."""

from __future__ import annotations

from typing import Literal

from tuilab.data.pipeline import steps_per_epoch

__all__ = ["steps_per_epoch", "steps_per_execution"]

AUTO_MAX_STEPS_PER_EXECUTION = 16
MIN_UPDATES_PER_EPOCH = 50  # "auto" keeps at least this many progress updates per epoch


def steps_per_execution(
    setting: int | Literal["auto"], steps_per_epoch: int, backend: str = "tensorflow"
) -> int:
    """The steps Keras runs per call into its backend for `[fit] steps_per_execution`.

    "auto" runs up to 16 steps per call (bench/README.md: 2.2x the samples/s of one step per
    call for the 3x40 MLP on a CPU, 1.5x for the BatchNorm CNN) but keeps at least 50 calls per
    epoch, so that progress, NaN checks and stop requests stay frequent; small epochs keep one
    step per call. On PyTorch Keras runs one step per call (more is refused by `validate`).
    """
    if backend == "torch":
        return 1
    if setting != "auto":
        return setting
    return max(1, min(AUTO_MAX_STEPS_PER_EXECUTION, steps_per_epoch // MIN_UPDATES_PER_EPOCH))
