"""Look up Keras classes by name and check arguments against their real signatures."""

from __future__ import annotations

import difflib
import inspect
from functools import cache
from typing import Any

NAMESPACES = ("layers", "optimizers", "callbacks", "losses")
SINGULAR = {"optimizers": "optimizer", "losses": "loss", "callbacks": "callback", "layers": "layer"}
_BASE_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "activity_regularizer")
_INPUT_KWARGS = ("input_shape", "input_dim", "batch_input_shape", "batch_size")


class KerasLookupError(LookupError):
    """A class or argument does not exist; `hint` says what would."""

    def __init__(self, message: str, hint: str = "", argument: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.argument = argument


def keras_module(namespace: str) -> Any:
    """`keras.layers`, `keras.optimizers`, ... (imports Keras)."""
    from tuilab.runtime.tf_setup import import_keras

    return getattr(import_keras(), namespace)


@cache
def class_names(namespace: str) -> dict[str, type]:
    """Every public class of a Keras namespace, by name."""
    keras = __import__("keras")
    module = keras_module(namespace)
    base = {
        "layers": keras.layers.Layer,
        "optimizers": keras.optimizers.Optimizer,
        "callbacks": keras.callbacks.Callback,
        "losses": keras.losses.Loss,
    }[namespace]
    found = {}
    for name in dir(module):
        value = getattr(module, name)
        if isinstance(value, type) and issubclass(value, base) and not name.startswith("_"):
            found[name] = value
    return found


def suggest(word: str, choices: list[str]) -> str:
    """A 'did you mean' hint, case-insensitive."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"did you mean {lowered[word.lower()]!r}? names are case-sensitive"
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return ""


def keras_class(namespace: str, name: str) -> type:
    """The class `keras.<namespace>.<name>`.

    Raises:
        KerasLookupError: with a suggestion of the closest names.
    """
    classes = class_names(namespace)
    if name in classes:
        return classes[name]
    raise KerasLookupError(f"unknown Keras {namespace[:-1]} {name!r}", suggest(name, list(classes)))


@cache
def accepted_arguments(cls: type) -> tuple[str, ...]:
    """Constructor arguments `cls` accepts, including Layer's keyword arguments for layers."""
    names: list[str] = []
    takes_kwargs = False
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]
        names += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
        if not takes_kwargs:
            break
    keras = __import__("keras")
    if issubclass(cls, keras.layers.Layer):
        names += _BASE_LAYER_KWARGS
    return tuple(dict.fromkeys(n for n in names if n not in ("self", "kwargs")))


def check_arguments(cls: type, arguments: dict[str, Any]) -> None:
    """Raise `KerasLookupError` for the first argument `cls` does not accept."""
    accepted = accepted_arguments(cls)
    for argument in arguments:
        if argument in _INPUT_KWARGS:
            raise KerasLookupError(
                f"{argument!r} is not needed: the input shape comes from the data",
                "remove it",
                argument,
            )
        if argument not in accepted:
            hint = suggest(argument, list(accepted)) or "valid: " + ", ".join(accepted)
            raise KerasLookupError(f"{cls.__name__} has no argument {argument!r}", hint, argument)


def instantiate(namespace: str, spec: dict[str, Any]) -> Any:
    """Build `keras.<namespace>.<spec['type']>(**rest)` after checking names and arguments."""
    arguments = {k: v for k, v in spec.items() if k != "type"}
    cls = keras_class(namespace, spec["type"])
    check_arguments(cls, arguments)
    return cls(**arguments)
