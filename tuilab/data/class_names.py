"""Class names of the built-in datasets, in label order (digits, MNIST: "0".."9")."""

from __future__ import annotations

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
}
"""Datasets whose labels have names; any other dataset's classes are named by their index."""


def class_names(dataset: str, classes: int) -> list[str]:
    """The names of `classes` classes of `dataset`: its own names, else "0", "1"..."""
    names = CLASS_NAMES.get(dataset, ())
    if len(names) == classes:
        return list(names)
    return [str(index) for index in range(classes)]
