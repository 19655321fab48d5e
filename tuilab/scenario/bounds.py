"""Every bound on a quantity a user gives, defined once (issue: "every input has a bound,
checked before work starts").

Each constant here is checked at every entrance that takes the quantity: the scenario file and
`--set` (through the schema and the sweep), the command line, and a stored run read back for
`tuilab resume` (`resolved.json`, `run.json`). Nothing here imports anything, so any layer
(the steering channel, the CLI) may use it.
"""

from __future__ import annotations

import math
from typing import Any

MAX_TRIALS = 1000
"""Trials one run trains: variants (a sweep's expanded ones) x their repeats."""
MAX_VARIANTS = MAX_TRIALS
"""Variants of a scenario or a stored run (each makes at least one trial)."""
MAX_REPEATS = 100
"""`[run] repeats`."""
MAX_PARALLEL = 256
"""Trials training at once: `[run] parallel` and `--parallel`."""

MAX_SWEEP_KEYS = 16
"""Keys one `[sweep]` varies."""

MAX_VARIANT_NAME = 64
"""Characters of a variant name (`[variants.NAME]`)."""
MAX_SWEEP_LABELS = 2000
"""Characters between the brackets of a sweep trial name (`adam[lr=0.01,batch=64]`); a longer
one is cut, with a hash of the whole (`sweep_record.trial_name`), so names stay unique."""
MAX_SWEEP_NAME = MAX_VARIANT_NAME + 2 + MAX_SWEEP_LABELS
"""Characters of an expanded sweep variant's name."""
MAX_TRIAL_NAME = MAX_SWEEP_NAME + len(f".r{MAX_REPEATS}")
"""Characters of a trial name (a variant or sweep name, then `.rK` for a repeat): what a
sweep makes and what steering (`tuilab stop --trial`, the control channel) accepts."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
"""`int_uniform` bounds (numpy draws int64); a `uniform` range is finite, and so is its width
(`finite_width`)."""

MAX_SAMPLE_VALUES = 2**24
"""Values in one synthetic sample (its shape multiplied out): 16,777,216, a 2048x2048x4 image."""
MAX_DATA_VALUES = 2**28
"""Values of all synthetic arrays together ((samples + test_samples + classes) x the sample's
values): 268,435,456, 1 GiB as float32."""


def finite_width(low: float, high: float) -> bool:
    """Both ends finite and `high - low` finite too (numpy's uniform draw needs it)."""
    return math.isfinite(low) and math.isfinite(high) and math.isfinite(high - low)


def count_trials(variants: dict[str, Any]) -> int:
    """Trials validated variants make: each one `[run] repeats` times (a playground's once)."""
    return sum(getattr(getattr(v, "run", None), "repeats", 1) for v in variants.values())
