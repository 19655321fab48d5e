"""Check the values a scenario gives Keras arguments: plain data, never a config to deserialise.

Keras turns some argument values into objects: `kernel_initializer`, `*_regularizer`,
`*_constraint`, `activation` and `dtype` go through `keras.<kind>.get`, which deserialises a
dict (`class_name`, `module`, `registered_name`, `config`) into any registered Keras class,
TFSMLayer included. So a scenario passes only plain values (numbers, booleans, strings, lists
of them) and, for those arguments, a known name or a `{ type = "...", ... }` table that tuilab
builds itself from the allow-list. Strings that look like paths or URLs are refused everywhere
but in the callback path arguments tuilab confines to the trial folder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cache
from typing import Any

KEY_WORDS = ("class_name", "module", "registered_name", "config")
DTYPES = ("float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16")
DTYPE_ARGUMENTS = ("dtype", "reverse_dtype")
ACTIVATION_ARGUMENTS = ("activation", "recurrent_activation")
NUMBER_TABLES = ("renorm_clipping",)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FACTORY_NAMES = ("get", "serialize", "deserialize")

Key = tuple[str | int, ...]


class ValueProblem(ValueError):
    """An argument value a scenario may not give; `key` is relative to the argument."""

    def __init__(self, key: Key, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.hint = hint


def looks_like_path(text: str) -> bool:
    """A file path or URL: a separator, a leading `~`, or a scheme/drive such as `gs:`."""
    return "/" in text or "\\" in text or text.startswith("~") or bool(_SCHEME.match(text))


def nested_namespace(namespace: str, argument: str) -> str | None:
    """The Keras namespace a `{ type = ... }` table for this argument builds from, if any."""
    if argument.endswith("_initializer"):
        return "initializers"
    if argument.endswith("_regularizer"):
        return "regularizers"
    if argument.endswith("_constraint"):
        return "constraints"
    if namespace == "optimizers" and argument == "learning_rate":
        return "optimizers.schedules"
    return None


@cache
def activation_names() -> tuple[str, ...]:
    """Every function name `keras.activations.get` knows."""
    from tuilab.backend import import_keras

    module = import_keras().activations
    return tuple(
        n
        for n in dir(module)
        if not n.startswith("_") and n not in _FACTORY_NAMES and callable(getattr(module, n))
    )


@cache
def allowed_names(namespace: str) -> tuple[str, ...]:
    """Allowed class names of a namespace, including Keras's snake_case aliases."""
    from tuilab.model.allowlist import refusal
    from tuilab.model.keras_classes import class_names

    return tuple(n for n in class_names(namespace) if refusal(namespace, n) is None)


def check_plain(value: Any, key: Key, argument: str) -> None:
    """Numbers, booleans, strings that are no path, and lists of those."""
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueProblem(key, f"{argument} may not be nan")
        return
    if isinstance(value, str):
        if looks_like_path(value):
            raise ValueProblem(
                key,
                f"{argument} = {value!r} looks like a file path or URL; "
                "a scenario gives Keras no paths here",
            )
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_plain(item, (*key, index), argument)
        return
    if isinstance(value, dict):
        raise ValueProblem(key, f"{argument} takes no table here", _table_hint(value))
    raise ValueProblem(key, f"{argument} cannot be {type(value).__name__}")


def _table_hint(table: dict[str, Any]) -> str:
    if any(word in table for word in KEY_WORDS):
        return (
            "class_name/module/registered_name/config tables are Keras configs, which tuilab "
            "never deserialises"
        )
    return "give a number, a string or a list"


def clean_value(
    namespace: str,
    argument: str,
    value: Any,
    build: Callable[[str, dict[str, Any]], Any],
) -> Any:
    """The value to pass to Keras for `argument` of a class in `namespace`.

    Args:
        namespace: The Keras namespace of the class taking the argument ("layers", ...).
        argument: The argument's name.
        value: What the scenario gave.
        build: Builds `{ type = ..., ... }` tables of a nested namespace (schedules, ...).

    Raises:
        ValueProblem: the value is not plain data, or names something not allowed.
    """
    key: Key = (argument,)
    nested = nested_namespace(namespace, argument)
    if argument in ACTIVATION_ARGUMENTS:
        return _activation(value, key, argument)
    if argument in DTYPE_ARGUMENTS:
        if value is None or value in DTYPES:
            return value
        raise ValueProblem(key, f"{argument} should be one of {', '.join(DTYPES)}, got {value!r}")
    if nested and isinstance(value, dict):
        if any(word in value for word in KEY_WORDS) or not isinstance(value.get("type"), str):
            raise ValueProblem(
                key,
                f"{argument} takes {'a number' if nested == 'optimizers.schedules' else 'a name'}"
                " or a { type = ... } table, not a Keras config",
                _nested_example(nested),
            )
        return build(nested, value)
    if nested and isinstance(value, str):
        return _nested_name(nested, value, key, argument)
    if argument in NUMBER_TABLES and isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(item, int | float) or isinstance(item, bool):
                raise ValueProblem((*key, name), f"{argument}.{name} should be a number")
        return dict(value)
    check_plain(value, key, argument)
    return value


def _activation(value: Any, key: Key, argument: str) -> Any:
    from tuilab.model.keras_classes import suggest

    if value is None:
        return None
    if isinstance(value, str) and value in activation_names():
        return value
    if isinstance(value, str):  # Keras's own words, with the names it would have known
        raise ValueProblem(
            (),
            f"Could not interpret activation function identifier: {value}",
            suggest(value, list(activation_names())) or 'e.g. "relu" or "softmax"',
        )
    raise ValueProblem(key, f'{argument} takes the name of an activation, e.g. "relu"')


def _nested_name(namespace: str, value: str, key: Key, argument: str) -> str:
    from tuilab.model.keras_classes import SINGULAR, suggest

    allowed = allowed_names(namespace)
    if namespace == "optimizers.schedules":
        raise ValueProblem(key, f"{argument} takes a number or a schedule table", _example())
    if _NAME.match(value) and value in allowed:
        return value
    raise ValueProblem(
        key,
        f"unknown {SINGULAR[namespace]} {value!r}",
        suggest(value, list(allowed)) or _nested_example(namespace),
    )


def _example() -> str:
    return (
        'e.g. { type = "ExponentialDecay", initial_learning_rate = 0.1, decay_steps = 100, '
        "decay_rate = 0.9 }"
    )


def _nested_example(namespace: str) -> str:
    return {
        "initializers": 'e.g. "he_normal" or { type = "RandomNormal", stddev = 0.05 }',
        "regularizers": 'e.g. "l2" or { type = "L2", l2 = 0.001 }',
        "constraints": 'e.g. { type = "MaxNorm", max_value = 3 }',
        "optimizers.schedules": _example(),
    }[namespace]
