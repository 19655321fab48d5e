"""The run zoo: one store holding every kind of run tuilab makes or reads, made by running tuilab.

Every screen and shell command is tested against every kind (tests/test_matrix.py), so a new
screen meets the old kinds of run and a new kind of run meets the old screens. Build one by hand
to look at it: `python tests/zoo.py /tmp/zoo`, then `tuilab --runs-dir /tmp/zoo/runs`.

To add a kind of run: write a `_make_<kind>` function that makes it with the real tuilab (a
command, a script, a kill) and returns its folder, and add it to `KINDS`. The matrix then opens
every screen and runs every command on it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "[b]bold[/b] x=[1] \\[esc] 中文 \x1b[31mred"
"""User text that breaks a screen that parses it as markup or passes escapes to the terminal."""

_MLP = """
[scenario]
name = {name}
description = {description}
seed = 3

[data]
dataset = "digits"
flatten = true
normalize = "scale"
limit = {limit}
validation_split = 0.2

[model]
layers = [
  {{ type = "Dense", units = 16, activation = "relu"{layer_name} }},
  {{ type = "BatchNormalization"{bn_name} }},
  {{ type = "Dense", units = 10, activation = "softmax" }},
]

[compile]
optimizer = {{ type = "Adam", learning_rate = {lr} }}

[fit]
epochs = {epochs}
batch_size = {batch_size}
{extra}
"""


TWO_OPTIMIZERS = "\n[variants.adam]\n\n[variants.sgd]\ncompile.optimizer = 'sgd'\n"


def scenario_text(
    name: str = "zoo",
    *,
    description: str = "A run of the zoo.",
    epochs: int = 3,
    lr: float = 0.01,
    extra: str = "",
    layer_name: str = "",
    bn_name: str = "",
    slow: bool = False,
) -> str:
    """A small digits MLP (with a BatchNormalization layer) that trains in about a second.

    `slow`: every digit in batches of 4 (about half a second an epoch), so a process can be
    stopped between epochs without a race.
    """
    return _MLP.format(
        limit=1797 if slow else 400,
        batch_size=4 if slow else 32,
        name=json.dumps(name),
        description=json.dumps(description),
        epochs=epochs,
        lr=lr,
        extra=textwrap.dedent(extra),
        layer_name=f", name = {json.dumps(layer_name)}" if layer_name else "",
        bn_name=f", name = {json.dumps(bn_name)}" if bn_name else "",
    )


@dataclass
class Zoo:
    """The store and what is in it: `runs[kind]` is that run's folder (or log directory)."""

    root: Path
    runs: dict[str, Path] = field(default_factory=dict)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def scenarios_dir(self) -> Path:
        return self.root / "scenarios"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TUILAB_OFFLINE": "1",
        "COLUMNS": "80",
    }


def tuilab(zoo: Zoo, *args: str, check: tuple[int, ...] = (0,)) -> str:
    """Run the real `tuilab` command on the zoo's store, in this process (TensorFlow is
    imported once for the whole zoo); return what it printed."""
    from typer.testing import CliRunner

    from tuilab.cli import app

    done = CliRunner().invoke(
        app, ["--runs-dir", str(zoo.runs_dir), *args], env={"COLUMNS": "80"}, catch_exceptions=False
    )
    if done.exit_code not in check:
        raise RuntimeError(f"tuilab {' '.join(args)} exited {done.exit_code}:\n{done.output}")
    return done.output


def _scenario(zoo: Zoo, stem: str, text: str) -> Path:
    path = zoo.scenarios_dir / f"{stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _newest(zoo: Zoo, stem: str) -> Path:
    stamps = sorted((zoo.runs_dir / stem).iterdir())
    return stamps[-1]


def _run(zoo: Zoo, stem: str, text: str, *args: str, check: tuple[int, ...] = (0,)) -> Path:
    tuilab(zoo, "run", str(_scenario(zoo, stem, text)), "--headless", *args, check=check)
    return _newest(zoo, stem)


def _make_plain(zoo: Zoo) -> Path:
    return _run(zoo, "plain", scenario_text("Plain digits MLP"))


def _make_repeats(zoo: Zoo) -> Path:
    text = scenario_text("Repeats", epochs=2, extra="[run]\nrepeats = 2\n")
    return _run(zoo, "repeats", text + TWO_OPTIMIZERS)


def _make_grid_sweep(zoo: Zoo) -> Path:
    return _run(
        zoo,
        "grid_sweep",
        scenario_text("Grid sweep", epochs=2),
        "--sweep",
        "compile.optimizer.learning_rate=0.001,0.01",
        "--sweep",
        "fit.batch_size=32,64",
    )


def _make_random_sweep(zoo: Zoo) -> Path:
    extra = """
    [sweep]
    method = "random"
    samples = 3
    seed = 4
    "compile.optimizer.learning_rate" = { log_uniform = [0.001, 0.05] }
    """
    return _run(zoo, "random_sweep", scenario_text("Random sweep", epochs=2, extra=extra))


def _make_parallel(zoo: Zoo) -> Path:
    text = scenario_text("Parallel", epochs=2) + TWO_OPTIMIZERS
    return _run(zoo, "parallel", text, "--parallel", "2")


def _start(zoo: Zoo, stem: str, text: str) -> tuple[subprocess.Popen, Path]:
    """Start a headless run in its own process; return it once its first epoch is stored."""
    path = _scenario(zoo, stem, text)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuilab",
            "--runs-dir",
            str(zoo.runs_dir),
            "run",
            str(path),
            "--headless",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=zoo.root,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        folder = zoo.runs_dir / stem
        events = [p / "events.jsonl" for p in folder.glob("*")] if folder.is_dir() else []
        if any(e.is_file() and '"epoch":2,' in e.read_text() for e in events):
            return process, _newest(zoo, stem)
        if process.poll() is not None:
            raise RuntimeError(f"{stem} ended before its second epoch: {process.stderr.read()}")
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{stem} stored no second epoch in 180 s")


def _make_killed(zoo: Zoo) -> Path:
    process, folder = _start(zoo, "killed", scenario_text("Killed", epochs=400, slow=True))
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    return folder


def _make_resumed(zoo: Zoo) -> Path:
    process, folder = _start(zoo, "resumed", scenario_text("Resumed", epochs=6, slow=True))
    run_id = f"{folder.parent.name}/{folder.name}"
    tuilab(zoo, "stop", run_id, "--after-epoch")
    if process.wait(60) != 130:
        raise RuntimeError(f"the run to resume was not stopped: {process.stderr.read()}")
    tuilab(zoo, "resume", run_id, "--headless")
    return folder


def _make_failed(zoo: Zoo) -> Path:
    diverges = """
    [variants.fine]

    [variants.diverges]
    model.layers = [{ type = "Dense", units = 16 }, { type = "Dense", units = 10 }]
    compile.optimizer = { type = "SGD", learning_rate = 1e12 }
    compile.loss = { type = "SparseCategoricalCrossentropy", from_logits = true }
    """
    text = scenario_text("Diverges", epochs=2) + textwrap.dedent(diverges)
    return _run(zoo, "failed", text, check=(1,))


def _make_corrupt(zoo: Zoo) -> Path:
    folder = _run(zoo, "corrupt", scenario_text("Corrupt later", epochs=1))
    (folder / "results.json").write_text('{"trials": {"default": ', encoding="utf-8")
    with (folder / "events.jsonl").open("a", encoding="utf-8") as events:
        events.write('{"kind": "epoch_ended", "trial": \n not json\n')
    return folder


_SCRIPT = """
import sys
import keras
from sklearn.datasets import load_digits
from tuilab.keras import TuilabCallback

keras.utils.set_random_seed(1)
digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target


class Top2(keras.metrics.SparseTopKCategoricalAccuracy):
    def __init__(self, name="top2", **kwargs):
        super().__init__(k=2, name=name, **kwargs)


inputs = keras.Input((64,))
hidden = keras.layers.Dense(16, activation="relu")(inputs)
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy", Top2()])
recorder = TuilabCallback(sys.argv[2], runs_dir=sys.argv[1], config={"width": 16})
model.fit(x[:1000], y[:1000], validation_data=(x[1000:1300], y[1000:1300]), epochs=3,
          batch_size=64, verbose=0, callbacks=[recorder])
model.evaluate(x[1300:], y[1300:], verbose=0, callbacks=[recorder])
"""


def _make_script(zoo: Zoo) -> Path:
    path = zoo.root / "train_script.py"
    path.write_text(_SCRIPT, encoding="utf-8")
    subprocess.run(
        [sys.executable, str(path), str(zoo.runs_dir), "script-run"],
        check=True,
        capture_output=True,
        env=_env(),
        cwd=zoo.root,
        timeout=300,
    )
    return _newest(zoo, "script-run")


_TENSORBOARD = """
import sys
import keras
from sklearn.datasets import load_digits

keras.utils.set_random_seed(2)
digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x[:800], y[:800], validation_data=(x[800:1000], y[800:1000]), epochs=3, verbose=0,
          callbacks=[keras.callbacks.TensorBoard(sys.argv[1] + "/mlp")])
"""


def _make_tensorboard(zoo: Zoo) -> Path:
    logdir = zoo.root / "tensorboard"
    path = zoo.root / "tensorboard_script.py"
    path.write_text(_TENSORBOARD, encoding="utf-8")
    subprocess.run(
        [sys.executable, str(path), str(logdir)],
        check=True,
        capture_output=True,
        env=_env(),
        cwd=zoo.root,
        timeout=300,
    )
    return logdir


def _make_descent(zoo: Zoo) -> Path:
    """Gradient descent on x·sin(x²) is not stored: its kind is the scenario, which the
    picker lists and the playground opens; `run --headless` must print its steps."""
    text = (ROOT / "scenarios" / "descent_xsin.toml").read_text(encoding="utf-8")
    path = _scenario(zoo, "descent", text)
    printed = tuilab(zoo, "run", str(path), "--headless")
    if "Final x" not in printed:
        raise RuntimeError(f"the descent printed no steps:\n{printed}")
    return path


def _make_hostile(zoo: Zoo) -> Path:
    text = scenario_text(
        HOSTILE,
        description=HOSTILE,
        epochs=2,
        layer_name="dense>x.y-1",
        bn_name="bn.>z",
    )
    folder = _run(zoo, "hostile", text, "--sweep", "compile.optimizer=adam,sgd")
    run_id = f"{folder.parent.name}/{folder.name}"
    tuilab(zoo, "tag", run_id, "x:1.b-2")
    tuilab(zoo, "note", run_id, HOSTILE)
    return folder


KINDS: dict[str, Callable[[Zoo], Path]] = {
    "plain": _make_plain,
    "repeats": _make_repeats,
    "grid_sweep": _make_grid_sweep,
    "random_sweep": _make_random_sweep,
    "parallel": _make_parallel,
    "resumed": _make_resumed,
    "killed": _make_killed,
    "failed": _make_failed,
    "corrupt": _make_corrupt,
    "script": _make_script,
    "tensorboard": _make_tensorboard,
    "descent": _make_descent,
    "hostile": _make_hostile,
}
"""Every kind of run, by the name the matrix's test ids use. Add a kind here."""


def build_zoo(root: Path, kinds: tuple[str, ...] = tuple(KINDS)) -> Zoo:
    """Make every kind of run under `root` (about a minute on two cores)."""
    zoo = Zoo(root)
    zoo.scenarios_dir.mkdir(parents=True, exist_ok=True)
    zoo.runs_dir.mkdir(parents=True, exist_ok=True)
    (root / "figures").mkdir(exist_ok=True)
    for kind in kinds:
        zoo.runs[kind] = KINDS[kind](zoo)
    (root / "zoo.json").write_text(
        json.dumps({kind: str(path) for kind, path in zoo.runs.items()}, indent=1),
        encoding="utf-8",
    )
    return zoo


if __name__ == "__main__":
    built = build_zoo(Path(sys.argv[1]))
    for kind, path in built.runs.items():
        print(f"{kind:13} {path}")
