"""tuilab: a keyboard-driven terminal lab for training and comparing Keras models."""

__version__ = "0.1.0"
