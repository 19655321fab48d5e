"""tuilab: a keyboard-driven terminal lab for training and comparing tf.keras models."""

__version__ = "0.1.0"
