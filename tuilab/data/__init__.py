"""Datasets: loading from local files or Keras, preprocessing, tf.data pipelines."""

from tuilab.data.preprocess import PreparedData, prepare, wants_one_hot
from tuilab.data.sources import load_splits, spec_for
from tuilab.scenario.schema import DataConfig


def load_data(config: DataConfig, loss: object, seed: int) -> PreparedData:
    """Load and prepare the data of one variant."""
    spec = spec_for(config)
    return prepare(config, spec, load_splits(config, seed), one_hot=wants_one_hot(loss))


__all__ = ["PreparedData", "load_data", "spec_for"]
