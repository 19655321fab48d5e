"""Scenario files are untrusted: no layer, callback or argument runs a graph from disk, reads
a file, writes outside the run folder or opens a network connection."""

from __future__ import annotations

import functools
import json
import socket
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tuilab.backend import import_keras
from tuilab.cli import app
from tuilab.model.allowlist import ALLOWED_LAYERS, REFUSED, REFUSED_ARGUMENTS, refusal
from tuilab.model.builder import BuildError
from tuilab.model.callbacks import make_callbacks
from tuilab.model.keras_classes import KerasLookupError, accepted_arguments, instantiate

BASE = """
[scenario]
seed = 1
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
limit = 200
[fit]
epochs = 1
batch_size = 64
"""
DENSE_OUT = '{ type = "Dense", units = 10, activation = "softmax" }'
PATH_ATTRIBUTES = ("filename", "filepath", "backup_dir", "log_dir")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A SavedModel whose serving function copies a secret file to a sentinel file."""
    import_keras()
    import tensorflow as tf

    root = tmp_path_factory.mktemp("crafted")
    secret, sentinel = root / "secret.txt", root / "sentinel.txt"
    secret.write_text("s3cret\n")

    class Thief(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
        def serve(self, x: Any) -> Any:
            tf.io.write_file(str(sentinel), tf.io.read_file(str(secret)))
            return x * 1.0

    thief = Thief()
    tf.saved_model.save(thief, str(root / "model"), signatures={"serving_default": thief.serve})
    return {"model": root / "model", "secret": secret, "sentinel": sentinel, "root": root}


def test_the_crafted_graph_really_steals_when_plain_keras_runs_it(crafted):
    keras = import_keras()
    layer = keras.layers.TFSMLayer(str(crafted["model"]), call_endpoint="serving_default")
    layer(keras.ops.ones((1, 64)))
    assert crafted["sentinel"].read_text() == "s3cret\n"  # the threat is real
    crafted["sentinel"].unlink()


def config_of(path: Path) -> str:
    """A Keras config table that would deserialise into a TFSMLayer loading `path`."""
    return (
        '{ class_name = "TFSMLayer", module = "keras.layers", registered_name = "TFSMLayer", '
        f'config = {{ filepath = "{path}", call_endpoint = "serving_default" }} }}'
    )


HOSTILE = [  # (where, table: $model $secret $out $config filled in, expected refusal)
    ("layer", '{ type = "TFSMLayer", filepath = "$model" }', "it loads and runs a saved graph"),
    ("layer", '{ type = "Bidirectional", layer = $config }', "'Bidirectional' is not allowed"),
    ("layer", '{ type = "TimeDistributed", layer = $config }', "'TimeDistributed' is not allowed"),
    ("layer", '{ type = "RNN", cell = $config }', "'RNN' is not allowed"),
    ("layer", '{ type = "LSTM", units = 4, cell = $config }', "argument 'cell' is not allowed"),
    ("layer", '{ type = "Dense", units = 8, kernel_initializer = $config }', "not a Keras config"),
    ("layer", '{ type = "Dense", units = 8, kernel_regularizer = $config }', "not a Keras config"),
    ("layer", '{ type = "Dense", units = 8, activation = $config }', "the name of an activation"),
    ("layer", '{ type = "Dense", units = 8, dtype = $config }', "dtype should be one of"),
    (
        "layer",
        '{ type = "Dense", units = 8, quantization_config = $config }',
        "'quantization_config' is not allowed",
    ),
    ("layer", '{ type = "StringLookup", vocabulary = "$secret" }', "vocabulary from a file"),
    ("layer", '{ type = "IntegerLookup", vocabulary = "$secret" }', "vocabulary from a file"),
    ("layer", '{ type = "TextVectorization", vocabulary = "$secret" }', "vocabulary from a file"),
    ("layer", '{ type = "Normalization", mean = "$secret", variance = 1.0 }', "a file path"),
    ("compile", 'optimizer = { type = "SGD", learning_rate = $config }', "not a Keras config"),
    (
        "compile",
        'loss = { type = "SparseCategoricalCrossentropy", reduction = $config }',
        "takes no table here",
    ),
    ("compile", 'metrics = ["keras.layers.TFSMLayer"]', "unknown Keras metric"),
    ("callback", 'type = "CSVLogger"\nfilename = "$out/h.csv"', "is an absolute path"),
    ("callback", 'type = "ModelCheckpoint"\nfilepath = "../../../../w.keras"', "climbs out"),
    ("callback", 'type = "BackupAndRestore"\nbackup_dir = "$out"', "is an absolute path"),
    ("callback", 'type = "TensorBoard"\nlog_dir = "~/tensorboard"', "points into a home folder"),
    (
        "callback",
        'type = "TensorBoard"\nembeddings_metadata = "$secret"',
        "'embeddings_metadata' is not allowed",
    ),
    ("callback", 'type = "RemoteMonitor"\nroot = "http://127.0.0.1:9"', "over the network"),
    ("callback", 'type = "OrbaxCheckpoint"\ndirectory = "$out"', "'OrbaxCheckpoint' is not"),
    ("callback", 'type = "LambdaCallback"\non_epoch_end = "os.system"', "Python functions"),
]


def hostile_cases(crafted: dict[str, Path]) -> list[tuple[str, str, str]]:
    """(file stem, scenario tables, expected refusal) for every path- or config-taking argument."""
    values = {
        "model": crafted["model"],
        "secret": crafted["secret"],
        "out": crafted["root"] / "written",
        "config": config_of(crafted["model"]),
    }
    wrap = {
        "layer": f"[model]\nlayers = [@, {DENSE_OUT}]\n",
        "callback": f"[model]\nlayers = [{DENSE_OUT}]\n[[callbacks]]\n@\n",
        "compile": f"[model]\nlayers = [{DENSE_OUT}]\n[compile]\n@\n",
    }
    return [
        (
            f"case{index}",
            wrap[where].replace("@", string.Template(table).substitute(values)),
            expected,
        )
        for index, (where, table, expected) in enumerate(HOSTILE)
    ]


WATCHED = {
    "layers": (
        "TFSMLayer",
        "StringLookup",
        "IntegerLookup",
        "TextVectorization",
        "Bidirectional",
        "TimeDistributed",
        "RNN",
    ),
    "callbacks": ("RemoteMonitor", "OrbaxCheckpoint", "LambdaCallback", "LearningRateScheduler"),
}


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and stop) every construction of a dangerous class and every SavedModel load."""
    keras = import_keras()
    import tensorflow as tf

    built: list[str] = []

    def recorder(name: str, original: Any) -> Any:
        @functools.wraps(original)  # signatures stay inspectable
        def refuse(*args: Any, **kwargs: Any) -> None:
            built.append(name)
            raise AssertionError(f"{name} was constructed")

        return refuse

    for namespace, names in WATCHED.items():
        for name in names:
            cls = getattr(getattr(keras, namespace), name)
            monkeypatch.setattr(cls, "__init__", recorder(name, cls.__init__))
    monkeypatch.setattr(tf.saved_model, "load", recorder("load", tf.saved_model.load))
    return built


def test_every_path_or_config_argument_is_refused_before_keras_sees_it(
    crafted, watched, write_scenario, tmp_path
):
    for case, tables, expected in hostile_cases(crafted):
        path = write_scenario(BASE + tables, f"{case}.toml")
        result = invoke("validate", str(path))
        assert result.exit_code == 2, (case, result.output)
        assert any(
            line.startswith(str(path)) and expected in line for line in result.output.splitlines()
        ), (
            case,
            result.output,
        )
        runs = tmp_path / "runs"
        result = invoke("run", str(path), "--headless", "--runs-dir", str(runs))
        assert result.exit_code == 2 and expected in result.output, (case, result.output)
        assert not runs.exists(), case
    assert watched == []
    assert not crafted["sentinel"].exists()
    assert not (crafted["root"] / "written").exists()
    assert sorted(p.name for p in crafted["root"].iterdir()) == ["model", "secret.txt"]


EVERY_ALLOWED_CALLBACK = """
[compile]
optimizer = { type = "Adam", use_ema = true }
[[callbacks]]
type = "CSVLogger"
[[callbacks]]
type = "TensorBoard"
histogram_freq = 1
write_images = true
[[callbacks]]
type = "ModelCheckpoint"
filepath = "checkpoints/e{epoch:02d}-{val_loss:.3f}.keras"
[[callbacks]]
type = "BackupAndRestore"
[[callbacks]]
type = "EarlyStopping"
[[callbacks]]
type = "ReduceLROnPlateau"
[[callbacks]]
type = "TerminateOnNaN"
[[callbacks]]
type = "SwapEMAWeights"
"""


def test_no_connection_and_no_write_outside_the_run_folder_with_every_allowed_callback(
    write_scenario, tmp_path, monkeypatch
):
    connections: list[Any] = []

    def no_network(*args: Any, **kwargs: Any) -> Any:
        connections.append(args)
        raise OSError("tuilab test: no network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket.socket, "sendto", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    home, cwd, runs = tmp_path / "home", tmp_path / "cwd", tmp_path / "runs"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    text = BASE + f"[model]\nlayers = [{DENSE_OUT}]\n" + EVERY_ALLOWED_CALLBACK
    path = write_scenario(text)
    before = {p for p in tmp_path.rglob("*")}
    result = invoke("run", str(path), "--headless", "--json", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [e["status"] for e in events if e["event"] == "variant_finished"] == ["finished"]
    assert connections == []
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(runs in p.parents or p == runs for p in new), sorted(new)
    trial = next((runs / "scenario").iterdir()) / "variants" / "default"
    assert (trial / "keras-history.csv").is_file() and (trial / "keras-tensorboard").is_dir()
    assert len(list((trial / "checkpoints").glob("e01-*.keras"))) == 1


def test_every_keras_layer_is_allowed_or_refused_with_its_own_reason():
    keras = import_keras()
    names = [
        n
        for n in dir(keras.layers)
        if isinstance(getattr(keras.layers, n), type)
        and issubclass(getattr(keras.layers, n), keras.layers.Layer)
    ]
    generic = [n for n in names if n not in ALLOWED_LAYERS and n not in REFUSED["layers"]]
    assert generic == [], "decide about these layers in tuilab/model/allowlist.py"
    assert refusal("layers", "SomeFutureLayer") is not None  # unknown means refused


FILE_LIKE = ("path", "file", "dir", "vocabulary", "url", "root", "module", "function", "fn")


def test_no_allowed_layer_takes_a_file_code_or_layer_argument():
    keras = import_keras()
    for name in sorted(ALLOWED_LAYERS):
        if not hasattr(keras.layers, name):
            continue
        for argument in accepted_arguments(getattr(keras.layers, name)):
            if argument in REFUSED_ARGUMENTS["layers"]:
                continue
            assert not any(word in argument for word in FILE_LIKE), (name, argument)
            assert argument not in ("layer", "cell", "weights_path"), (name, argument)


def full_namespace(namespace: str) -> list[str]:
    keras = import_keras()
    module = getattr(keras, namespace)
    base = {"layers": keras.layers.Layer, "callbacks": keras.callbacks.Callback}[namespace]
    return [
        n
        for n in sorted(dir(module))
        if isinstance(getattr(module, n), type) and issubclass(getattr(module, n), base)
    ]


CLASSES = {namespace: full_namespace(namespace) for namespace in ("layers", "callbacks")}
EXTRA_ARGUMENTS = ("filepath", "filename", "log_dir", "backup_dir", "vocabulary", "name")


def hostile_values(crafted: dict[str, Path], outside: Path) -> list[Any]:
    """Path-like values aimed outside the trial folder, plus one harmless relative path."""
    return [
        str(outside / "x.csv"),
        str(crafted["model"]),
        str(crafted["secret"]),
        "../x.csv",
        "a/../../x.csv",
        "~/x.csv",
        "gs://bucket/x.csv",
        "http://127.0.0.1:9/x",
        "file:///etc/hostname",
        "C:x.csv",
        "link/x.csv",  # a symbolic link in the trial folder to `outside`
        "inside/ok.keras",
        [str(crafted["secret"])],
        {
            "class_name": "TFSMLayer",
            "module": "keras.layers",
            "config": {"filepath": str(crafted["model"])},
        },
        {"class_name": "__lambda__", "config": {"code": "x", "defaults": None, "closure": None}},
    ]


def decide(spec: dict[str, Any], folder: Path) -> str:
    """Build the callback for a trial folder: "refused", or "confined" after checking that
    every path it holds is inside the folder."""
    try:
        callbacks = make_callbacks([spec], folder)
    except BuildError:
        return "refused"
    for callback in callbacks:
        for attribute in PATH_ATTRIBUTES:
            held = getattr(callback, attribute, None)
            if isinstance(held, str):
                assert folder.resolve() in Path(held).resolve().parents, (spec, held)
    return "confined"


def test_every_path_argument_with_every_hostile_value_is_refused_or_confined(
    crafted, watched, tmp_path
):
    outside, folder = tmp_path / "outside", tmp_path / "trial"
    outside.mkdir()
    folder.mkdir()
    (folder / "link").symlink_to(outside)
    outcomes = {}
    for name, argument in PATH_ARGUMENTS:
        for value in hostile_values(crafted, outside):
            outcome = decide({"type": name, argument: value}, folder)
            outcomes[name, argument, str(value)] = outcome
    confined = sorted(k[:2] for k, outcome in outcomes.items() if outcome == "confined")
    assert confined == sorted(PATH_ARGUMENTS[:4])  # the others are refused whatever the path
    assert all(k[2] == "inside/ok.keras" for k, o in outcomes.items() if o == "confined")
    assert len(outcomes) == len(PATH_ARGUMENTS) * len(hostile_values(crafted, outside))
    assert not list(outside.iterdir()) and watched == []


PATH_ARGUMENTS = [
    ("CSVLogger", "filename"),
    ("ModelCheckpoint", "filepath"),
    ("BackupAndRestore", "backup_dir"),
    ("TensorBoard", "log_dir"),
    ("TensorBoard", "embeddings_metadata"),
    ("RemoteMonitor", "root"),
    ("OrbaxCheckpoint", "directory"),
]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_property_any_class_with_a_path_like_value_is_refused_or_confined(
    crafted, watched, tmp_path_factory, data
):
    import_keras()
    base = tmp_path_factory.mktemp("property")
    outside, folder = base / "outside", base / "trial"
    outside.mkdir()
    folder.mkdir()
    (folder / "link").symlink_to(outside)
    namespace = data.draw(st.sampled_from(["layers", "callbacks"]), label="namespace")
    name = data.draw(st.sampled_from(CLASSES[namespace]), label="class")
    cls = getattr(getattr(import_keras(), namespace), name)
    argument = data.draw(
        st.sampled_from(accepted_arguments(cls) or EXTRA_ARGUMENTS)
        | st.sampled_from(EXTRA_ARGUMENTS),
        label="argument",
    )
    value = data.draw(st.sampled_from(hostile_values(crafted, outside)), label="value")
    spec = {"type": name, argument: value}
    if namespace == "layers":
        with pytest.raises(KerasLookupError):  # tuilab's own refusal, before any constructor
            instantiate("layers", spec)
    else:
        event(f"callback {decide(spec, folder)}")
    assert not list(outside.iterdir())
    assert watched == []
    assert not crafted["sentinel"].exists()
