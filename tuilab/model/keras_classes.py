"""Look up Keras classes by name, refuse those a scenario may not name, check arguments.

Which classes are allowed is decided in `tuilab.model.allowlist`; what argument values may be
is decided in `tuilab.model.values`.
"""

from __future__ import annotations

import difflib
import inspect
from functools import cache
from typing import Any

NAMESPACES = (
    "layers",
    "optimizers",
    "callbacks",
    "losses",
    "metrics",
    "optimizers.schedules",
    "initializers",
    "regularizers",
    "constraints",
)
SINGULAR = {
    "optimizers": "optimizer",
    "losses": "loss",
    "metrics": "metric",
    "callbacks": "callback",
    "layers": "layer",
    "optimizers.schedules": "learning-rate schedule",
    "initializers": "initializer",
    "regularizers": "regularizer",
    "constraints": "constraint",
}
_BASE_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "activity_regularizer")
_INPUT_KWARGS = ("input_shape", "input_dim", "batch_input_shape", "batch_size")


class KerasLookupError(LookupError):
    """A class or argument does not exist; `hint` says what would."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        argument: str | None = None,
        key: tuple[str | int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.hint = hint
        self.argument = argument
        self.key = key or ((argument,) if argument else ())


def keras_module(namespace: str) -> Any:
    """`keras.layers`, `keras.optimizers.schedules`, ... (imports Keras)."""
    from tuilab.backend import import_keras

    module = import_keras()
    for part in namespace.split("."):
        module = getattr(module, part)
    return module


@cache
def class_names(namespace: str) -> dict[str, type]:
    """Every public class of a Keras namespace, by name."""
    module = keras_module(namespace)  # first: Keras imported quietly, on the chosen backend
    keras = __import__("keras")
    base = {
        "layers": keras.layers.Layer,
        "optimizers": keras.optimizers.Optimizer,
        "callbacks": keras.callbacks.Callback,
        "losses": keras.losses.Loss,
        "metrics": keras.metrics.Metric,
        "optimizers.schedules": keras.optimizers.schedules.LearningRateSchedule,
        "initializers": keras.initializers.Initializer,
        "regularizers": keras.regularizers.Regularizer,
        "constraints": keras.constraints.Constraint,
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


def allowed_class_names(namespace: str) -> list[str]:
    """The names of a namespace a scenario may use (for "did you mean" hints)."""
    from tuilab.model.allowlist import refusal

    return [n for n in class_names(namespace) if refusal(namespace, n) is None]


def keras_class(namespace: str, name: str) -> type:
    """The class `keras.<namespace>.<name>`, if a scenario may name it.

    Raises:
        KerasLookupError: an unknown name (with the closest allowed names), or a real class
            that is refused (with the reason and what to use instead).
    """
    from tuilab.model.allowlist import refusal

    classes = class_names(namespace)
    if name in classes:
        refused = refusal(namespace, name)
        if refused is None:
            return classes[name]
        reason, instead = refused
        raise KerasLookupError(
            f"{SINGULAR[namespace]} {name!r} is not allowed in a scenario: {reason}", instead
        )
    raise KerasLookupError(
        f"unknown Keras {SINGULAR[namespace]} {name!r}",
        suggest(name, allowed_class_names(namespace)),
    )


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


def instantiate(namespace: str, spec: dict[str, Any], paths: tuple[str, ...] = ()) -> Any:
    """Build `keras.<namespace>.<spec['type']>(**rest)` after checking names and values.

    Args:
        namespace: "layers", "optimizers", ... (see NAMESPACES).
        spec: The scenario's table: `type` and the class's own arguments.
        paths: Arguments whose values tuilab has already confined to the trial folder.

    Raises:
        KerasLookupError: unknown or refused class, argument or value; `key` says where.
        TypeError, ValueError: Keras itself refused the arguments.
    """
    from tuilab.model.allowlist import NEEDED_ARGUMENTS, REFUSED_ARGUMENTS
    from tuilab.model.values import ValueProblem, clean_value

    arguments = {k: v for k, v in spec.items() if k != "type"}
    cls = keras_class(namespace, spec["type"])
    check_arguments(cls, arguments)
    refused = REFUSED_ARGUMENTS.get(namespace, {})
    for name, value in arguments.items():
        if name in refused and value is not None:
            raise KerasLookupError(
                f"{cls.__name__} argument {name!r} is not allowed in a scenario: {refused[name]}",
                "remove it",
                name,
            )
    needed, why = NEEDED_ARGUMENTS.get(spec["type"], ((), ""))
    missing = [name for name in needed if arguments.get(name) is None]
    if missing:
        raise KerasLookupError(f"{spec['type']} needs {' and '.join(missing)}", why)
    clean = {}
    for name, value in arguments.items():
        if name in paths:
            clean[name] = value
            continue
        try:
            clean[name] = clean_value(namespace, name, value, _nested)
        except ValueProblem as exc:
            message = str(exc) if exc.key else f"{cls.__name__}: {exc}"
            raise KerasLookupError(message, exc.hint, key=exc.key) from None
        except KerasLookupError as exc:
            raise KerasLookupError(str(exc), exc.hint, key=(name, *exc.key)) from None
    return cls(**clean)


def _nested(namespace: str, spec: dict[str, Any]) -> Any:
    """Build a `{ type = ... }` table of an argument; Keras's own errors keep their key."""
    try:
        return instantiate(namespace, spec)
    except KerasLookupError as exc:
        raise KerasLookupError(str(exc), exc.hint, key=exc.key or ("type",)) from None
    except (TypeError, ValueError) as exc:
        raise KerasLookupError(f"{spec['type']}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
