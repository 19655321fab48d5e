"""The training input off TensorFlow: `ArrayBatches` (a PyDataset) on jax and torch.

Each backend runs in a subprocess with `KERAS_BACKEND` set and TensorFlow made uninstallable
(tests/fixtures/notf/sitecustomize.py), so that nothing on that path may import it. The child
prints one JSON object of facts; the tests here check them. jax is skipped when it is not
installed; torch runs when `import torch` works, with `$TUILAB_TORCH_PATH` (a folder holding a
torch install, e.g. a CPU wheel unpacked with `pip install --target`) added to the path.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, torch_path

from tuilab.data.pipeline import SEED_STRIDE, epoch_permutation

NOTF = ROOT / "tests" / "fixtures" / "notf"
SAMPLES, BATCH, SEED, BUFFER = 103, 10, 7, 16

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from tuilab.backend import import_keras
    from tuilab.data import load_data
    from tuilab.data.pipeline import EpochOrder, epoch_permutation, make_dataset
    from tuilab.scenario.schema import DataConfig

    N, BATCH, SEED, BUFFER = {SAMPLES}, {BATCH}, {SEED}, {BUFFER}
    keras = import_keras()
    facts = {{"backend": keras.backend.backend()}}
    STEPS = 1 if facts["backend"] == "torch" else 3  # torch: steps_per_execution must be 1
    x = np.arange(N, dtype="float32").reshape(N, 1)
    y = np.zeros((N, 1), "float32")


    def epochs_by_hand(order, dataset, epochs):
        # what Keras does: callbacks' on_epoch_begin, then the adapter's, then the batches
        callback, seen = order.callback(), []
        for epoch in epochs:
            callback.on_epoch_begin(epoch)
            dataset.on_epoch_begin()
            seen.append([dataset[i][0][:, 0].astype(int).tolist() for i in range(len(dataset))])
            dataset.on_epoch_end()
        return seen


    order = EpochOrder()
    facts["order_type"] = type(order.epoch).__name__
    facts["by_hand"] = epochs_by_hand(
        order, make_dataset(x, y, BATCH, shuffle=True, seed=SEED, order=order), range(4)
    )
    fresh = EpochOrder()
    facts["fresh_at_3"] = epochs_by_hand(
        fresh, make_dataset(x, y, BATCH, shuffle=True, seed=SEED, order=fresh), [3]
    )[0]
    buffered = EpochOrder()
    facts["buffered"] = epochs_by_hand(
        buffered,
        make_dataset(x, y, BATCH, shuffle=True, seed=SEED, shuffle_buffer=BUFFER, order=buffered),
        range(2),
    )
    facts["unshuffled"] = epochs_by_hand(
        EpochOrder(), make_dataset(x, y, BATCH, shuffle=False, seed=SEED), range(2)
    )
    facts["is_py_dataset"] = isinstance(
        make_dataset(x, y, BATCH, shuffle=True, seed=SEED), keras.utils.PyDataset
    )


    def fit_orders(initial_epoch, epochs):
        # the epochs' sample orders as `model.fit` (runner.py's call shape) feeds them
        keras.utils.set_random_seed(0)
        log, per_epoch = [], []

        class Mark(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                log.clear()  # drops the batch Keras peeks at to build the model

            def on_epoch_end(self, epoch, logs=None):
                per_epoch.append([v for batch in log for v in batch])

        order = EpochOrder()
        dataset = make_dataset(x, y, BATCH, shuffle=True, seed=SEED, order=order)

        class Logged(type(dataset)):
            # records every batch Keras asks for
            def __getitem__(self, index):
                batch = super().__getitem__(index)
                log.append(batch[0][:, 0].astype(int).tolist())
                return batch

        dataset.__class__ = Logged
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=STEPS)
        model.fit(
            dataset,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=[order.callback(), Mark()],
            shuffle=False,
            verbose=0,
        )
        return per_epoch


    facts["fit_epochs"] = fit_orders(0, 4)
    facts["fit_resumed_at_3"] = fit_orders(3, 4)

    keras.utils.set_random_seed(1)
    config = DataConfig(dataset="digits", normalize="scale", flatten=True, validation_split=0.2)
    data = load_data(config, "sparse_categorical_crossentropy", 0)
    model = keras.Sequential(
        [
            keras.Input(data.input_shape),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(data.classes, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=STEPS,
    )
    order = EpochOrder()
    history = model.fit(
        make_dataset(data.x_train, data.y_train, 64, shuffle=True, seed=1, order=order),
        validation_data=make_dataset(data.x_val, data.y_val, 64, shuffle=False, seed=1),
        epochs=5,
        callbacks=[order.callback()],
        shuffle=False,
        verbose=0,
    )
    facts["loss"] = [float(v) for v in history.history["loss"]]
    facts["val_accuracy"] = [float(v) for v in history.history["val_accuracy"]]
    test = model.evaluate(data.x_test, data.y_test, batch_size=64, verbose=0, return_dict=True)
    facts["test_accuracy"] = float(test["accuracy"])
    facts["tensorflow_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
    print("FACTS " + json.dumps(facts))
    """
).format(SAMPLES=SAMPLES, BATCH=BATCH, SEED=SEED, BUFFER=BUFFER)


def _run_child(backend: str, extra_path: str = "") -> dict:
    paths = [str(NOTF), *([extra_path] if extra_path else []), str(ROOT)]
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "PYTHONPATH": os.pathsep.join(paths),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("FACTS ")]
    return json.loads(line.removeprefix("FACTS "))


@pytest.fixture(scope="module", params=["jax", "torch"])
def facts(request: pytest.FixtureRequest) -> dict:
    """The child's facts for one backend (skipped when the backend is not installed)."""
    if request.param == "jax":
        if importlib.util.find_spec("jax") is None or importlib.util.find_spec("jaxlib") is None:
            pytest.skip("jax is not installed (pip install jax jaxlib)")
        return _run_child("jax")
    extra = torch_path()
    if extra is None:
        pytest.skip("torch is not importable (set TUILAB_TORCH_PATH to a folder holding it)")
    return _run_child("torch", extra)


def flat(epoch: list[list[int]]) -> list[int]:
    return [v for batch in epoch for v in batch]


def test_runs_on_its_backend_without_tensorflow(facts):
    assert facts["backend"] in ("jax", "torch")
    assert facts["tensorflow_loaded"] == []
    assert facts["is_py_dataset"] and facts["order_type"] == "int"


def test_every_epoch_covers_each_sample_once(facts):
    for epochs in (facts["by_hand"], facts["buffered"], facts["fit_epochs"]):
        for epoch in epochs:
            values = flat(epoch) if isinstance(epoch[0], list) else epoch
            assert sorted(values) == list(range(SAMPLES))
    assert len(facts["fit_epochs"]) == 4


def test_batches_keep_the_size_and_the_last_partial_batch(facts):
    for epoch in [*facts["by_hand"], *facts["buffered"], *facts["unshuffled"]]:
        sizes = [len(batch) for batch in epoch]
        assert sizes == [BATCH] * (SAMPLES // BATCH) + [SAMPLES % BATCH]
    assert facts["unshuffled"][0] == facts["unshuffled"][1]
    assert flat(facts["unshuffled"][0]) == list(range(SAMPLES))


def test_order_changes_each_epoch_and_follows_seed_and_epoch(facts):
    orders = [flat(epoch) for epoch in facts["by_hand"]]
    assert len({tuple(order) for order in orders}) == len(orders)
    for epoch, order in enumerate(orders):
        assert order == epoch_permutation(SAMPLES, SEED, epoch).tolist()
    assert flat(facts["fresh_at_3"]) == orders[3]  # a fresh pipeline at epoch 3: epoch 3's order


def test_fit_sees_each_epochs_order_and_a_resume_repeats_it(facts):
    expected = [epoch_permutation(SAMPLES, SEED, epoch).tolist() for epoch in range(4)]
    assert facts["fit_epochs"] == expected
    assert facts["fit_resumed_at_3"] == [expected[3]]


def test_shuffle_buffer_is_a_windowed_shuffle(facts):
    first, second = (flat(epoch) for epoch in facts["buffered"])
    assert first != second and first != list(range(SAMPLES))
    for position, sample in enumerate(first):
        assert sample <= position + BUFFER - 1  # never drawn before it entered the buffer


def test_a_tiny_digits_model_trains(facts):
    loss = facts["loss"]
    assert len(loss) == 5 and loss[-1] < loss[0] * 0.5
    assert facts["val_accuracy"][-1] > 0.8 and facts["test_accuracy"] > 0.8


# -- numpy side, no backend needed -----------------------------------------------------------


def test_permutation_seeding_contract():
    first = epoch_permutation(50, 3, 2)
    assert np.array_equal(first, np.random.default_rng(3 * SEED_STRIDE + 2).permutation(50))
    assert np.array_equal(first, epoch_permutation(50, 3, 2))
    assert not np.array_equal(first, epoch_permutation(50, 3, 3))
    assert np.array_equal(epoch_permutation(50, 3, 2, buffer=50), first)


@pytest.mark.parametrize("buffer", [1, 2, 7, 49])
def test_buffered_permutation_is_a_permutation_within_the_window(buffer):
    order = epoch_permutation(50, 1, 0, buffer=buffer)
    assert sorted(order.tolist()) == list(range(50))
    assert all(sample <= position + buffer - 1 for position, sample in enumerate(order))
    if buffer == 1:
        assert order.tolist() == list(range(50))
