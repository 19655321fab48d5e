"""Gradients on whichever Keras backend runs (tensorflow, jax or torch), one small function each.

Only the running backend's own module is imported: on jax or torch nothing here touches
TensorFlow. Two users: the layer probe (`loss_gradients`: the gradient of a model's loss with
respect to its trainable variables, inference mode, no optimizer step) and the descent
playground (`math_module`, `float64_scope`, `value_and_grad`, `evaluate`, `compiled`: float64
throughout, also on jax where float64 needs x64 switched on, here only inside a scope).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import numpy as np

from tuilab.backend import import_keras

# f(point, math) -> scalar, written once against a math module (tf.math, jax.numpy, torch, numpy)
Scalar = Callable[[Any, Any], Any]


def backend_name() -> str:
    """The running Keras backend: "tensorflow", "jax" or "torch" (imports Keras once)."""
    return str(import_keras().backend.backend())


def to_numpy(value: Any) -> np.ndarray:
    """A tensor or Keras variable of any backend as a numpy array."""
    return np.asarray(import_keras().ops.convert_to_numpy(value))


# --- the layer probe ---------------------------------------------------------------------------


def loss_gradients(
    model: Any, x: Any, y: Any, groups: list[list[Any]]
) -> tuple[float, list[list[np.ndarray | None]]]:
    """The inference-mode loss on (`x`, `y`) and its gradient for each variable in `groups`.

    `groups` holds lists of the model's trainable variables (one list per layer, say); the
    gradients come back in the same shape, None where the loss does not depend on a variable.
    The forward pass runs with `training=False` and nothing in the model changes.
    """
    backend = backend_name()
    if backend == "jax":
        loss, gradients = _jax_loss_gradients(model, x, y, groups)
    elif backend == "torch":
        loss, gradients = _torch_loss_gradients(model, x, y, groups)
    else:
        loss, gradients = _tf_loss_gradients(model, x, y, groups)
    return float(to_numpy(loss)), [
        [None if g is None else to_numpy(g) for g in group] for group in gradients
    ]


def _tf_loss_gradients(model: Any, x: Any, y: Any, groups: list[list[Any]]) -> tuple[Any, Any]:
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        y_pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
    return loss, tape.gradient(loss, groups)


def _jax_loss_gradients(model: Any, x: Any, y: Any, groups: list[list[Any]]) -> tuple[Any, Any]:
    trainable = list(model.trainable_variables)
    loss, gradients = _jax_gradient_function(model)(
        [v.value for v in trainable],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.metrics_variables],
        x,
        y,
    )
    return loss, _regroup(trainable, gradients, groups)


_JAX_GRADIENTS: weakref.WeakKeyDictionary[Any, Callable[..., Any]] = weakref.WeakKeyDictionary()


def _jax_gradient_function(model: Any) -> Callable[..., Any]:
    """One jitted loss-and-gradient function per model, compiled at its first probe.

    `compute_loss` reads variables statefully, which jax cannot trace: this goes through the
    stateless API with every variable's value as an argument instead. Eager, the same pass
    costs some 300 times more (one dispatch per operation).
    """
    function = _JAX_GRADIENTS.get(model)
    if function is not None:
        return function
    import jax

    owner = weakref.ref(model)  # the cache must not keep the model alive

    def loss_of(values: Any, non_trainable: Any, metrics: Any, x: Any, y: Any) -> Any:
        traced = owner()
        y_pred, _ = traced.stateless_call(values, non_trainable, x, training=False)
        loss, _ = traced.stateless_compute_loss(
            values, non_trainable, metrics, x=x, y=y, y_pred=y_pred, training=False
        )
        return loss

    function = jax.jit(jax.value_and_grad(loss_of))
    _JAX_GRADIENTS[model] = function
    return function


def _torch_loss_gradients(model: Any, x: Any, y: Any, groups: list[list[Any]]) -> tuple[Any, Any]:
    import torch

    ops = import_keras().ops
    trainable = list(model.trainable_variables)
    x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
    with torch.enable_grad():
        y_pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        gradients = torch.autograd.grad(loss, [v.value for v in trainable], allow_unused=True)
    return loss.detach(), _regroup(trainable, gradients, groups)


def _regroup(trainable: list[Any], gradients: Any, groups: list[list[Any]]) -> list[list[Any]]:
    by_variable = {id(v): g for v, g in zip(trainable, gradients, strict=True)}
    return [[by_variable.get(id(v)) for v in group] for group in groups]


# --- the descent playground --------------------------------------------------------------------


def math_module() -> Any:
    """The running backend's elementwise math (sin, cos): tf.math, jax.numpy or torch.

    Not `keras.ops`: on jax it computes float64 inputs in float32.
    """
    backend = backend_name()
    if backend == "jax":
        import jax.numpy as jnp

        return jnp
    if backend == "torch":
        import torch

        return torch
    import tensorflow as tf

    return tf.math


@contextlib.contextmanager
def float64_scope() -> Iterator[None]:
    """Where float64 stays float64: jax's x64 mode inside the block only; a no-op elsewhere."""
    if backend_name() != "jax":
        yield
        return
    import jax

    with jax.enable_x64(True):
        yield


def _float64(point: Any) -> Any:
    """`point` (a number, list, array, tensor or Keras variable) as a float64 backend tensor."""
    value = getattr(point, "value", point)
    return import_keras().ops.convert_to_tensor(value, dtype="float64")


def value_and_grad(f: Scalar, point: Any) -> tuple[Any, Any]:
    """f(point, math_module()) and its gradient at `point`, as float64 backend tensors.

    On tensorflow `point` may be a variable (watched by the tape, also inside `compiled`);
    on jax call it inside `float64_scope`.
    """
    backend = backend_name()
    if backend == "jax":
        return _jax_value_and_grad(f)(_float64(point))
    if backend == "torch":
        import torch

        tensor = _float64(point).detach().clone().requires_grad_(True)
        with torch.enable_grad():
            value = f(tensor, torch)
            (gradient,) = torch.autograd.grad(value, tensor)
        return value.detach(), gradient
    import tensorflow as tf

    variable = isinstance(point, tf.Variable) or hasattr(point, "assign")  # watched when read
    if not variable:
        point = tf.convert_to_tensor(point, dtype=tf.float64)
    with tf.GradientTape() as tape:
        if not variable:
            tape.watch(point)
        value = f(point, tf.math)
    return value, tape.gradient(value, point)


@cache
def _jax_value_and_grad(f: Scalar) -> Callable[[Any], tuple[Any, Any]]:
    import jax
    import jax.numpy as jnp

    return jax.jit(jax.value_and_grad(lambda p: f(p, jnp)))


def evaluate(f: Scalar, point: Any) -> float:
    """f(point) in float64 on the running backend, as a Python float."""
    with float64_scope():
        return float(to_numpy(f(_float64(point), math_module())))


def compiled(step: Callable[[], Any]) -> Callable[[], Any]:
    """`step` as a graph on tensorflow (`tf.function`); as it is, eager, elsewhere."""
    if backend_name() != "tensorflow":
        return step
    import tensorflow as tf

    return tf.function(step)
