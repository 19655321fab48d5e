r"""Layer names a backend can train with: Keras's own rule, then the backend's.

Keras refuses a name that is not text or holds `/` (it separates a layer's name from its
weights' in variable paths: `keras/src/ops/operation.py`). The backends add their own rules,
met only once training starts, so `tuilab validate` applies them here:

- TensorFlow opens a name scope per layer inside the traced train step, and a graph scope name
  must match `^[A-Za-z0-9_.\\/>-]*$` (`_VALID_SCOPE_NAME_REGEX` in
  `tensorflow/python/framework/ops.py`: "hidden layer" fails in `Sequential.call`); the
  optimizer's slot variables then carry the layer's name into node names, which TensorFlow's
  C++ rule (`[A-Za-z0-9.][A-Za-z0-9_./>-]*`) checks again, without the backslash. Together with
  Keras's `/`: letters, digits and `_ . - >`, an empty name included (it trains).
- PyTorch keeps a layer's weights in a `torch.nn.ParameterDict` keyed by their paths, and
  refuses a key holding `.`.
- JAX takes any name Keras takes.

tests/test_metric_shapes.py trains generated names on the real backend against this rule.
"""

from __future__ import annotations

import re
from typing import Any

from tuilab.model.plan import LayerPlan
from tuilab.model.values import looks_like_path

INPUT_NAME = "input"
"""The name tuilab gives the model's input layer."""
_TENSORFLOW = re.compile(r"[A-Za-z0-9_.>-]*")
_TENSORFLOW_WORDS = "the letters A-Z and a-z, the digits 0-9 and _ . - > (no spaces)"
_TORCH_WORDS = "any character but '/' and '.'"


def name_problem(name: Any, backend: str) -> tuple[str, str] | None:
    """Why a layer cannot be called `name` on `backend`, and a name that can; None if it can."""
    if not isinstance(name, str):
        return "a layer name must be text", 'e.g. name = "hidden"'
    if backend == "tensorflow" and not _TENSORFLOW.fullmatch(name):
        return (
            f"layer name {name!r} cannot be used with TensorFlow: a layer name may hold only "
            + _TENSORFLOW_WORDS,
            f'e.g. name = "{re.sub(r"[^A-Za-z0-9_.>-]", "_", name)}"',
        )
    if "/" in name:
        return (
            f"layer name {name!r} cannot hold '/': Keras separates a layer's name from its "
            "weights' names with it",
            f'e.g. name = "{name.replace("/", "_")}"',
        )
    if backend == "torch" and "." in name:
        return (
            f"layer name {name!r} cannot be used with PyTorch: a layer name may hold "
            + _TORCH_WORDS,
            f'e.g. name = "{name.replace(".", "_")}"',
        )
    return None


def name_rule(backend: str) -> str:
    """What a layer name may hold on `backend`, in words."""
    if backend == "tensorflow":
        return _TENSORFLOW_WORDS
    if backend == "torch":
        return _TORCH_WORDS
    return "any character but '/'"


def named_problem(plans: list[LayerPlan], backend: str) -> tuple[int, str, str] | None:
    """The first layer the user named that cannot be built and trained: a name the backend
    refuses, or one used twice (Keras needs each name of a model once).

    Returns:
        (the plan's index, the message, a hint), or None.
    """
    seen = {INPUT_NAME: -1}
    for index, plan in enumerate(plans):
        name = plan.args.get("name")
        if plan.added:
            continue  # tuilab's own: named by `plan._named`, never clashing
        if isinstance(name, str) and looks_like_path(name):
            continue  # refused as every argument that looks like a path (`values.check_plain`)
        problem = name_problem(name, backend)
        if problem is not None:
            return index, *problem
        if name in seen:
            first = seen[name]
            where = "the model's input" if first < 0 else f"layer {plans[first].source}"
            return (
                index,
                f"layer name {name!r} is already the name of {where}: Keras needs each layer "
                "name once",
                "choose another name, or leave name out: tuilab names such layers dense, "
                "dense_1, ...",
            )
        seen[name] = index
    return None
