"""Readers of stored runs and TensorBoard folders never hang and never grow without bound.

The cases are generated: every reader (`tuilab show LOGDIR` and `read_tensorboard`, a stored
run's `read_events`, its replay into results and curves, `attach`'s follower, shell
completion of scenarios, variants and run ids) is given each hostile input: a FIFO where it
reads a file, a link loop where it walks or opens, and a large input (many event files, many
run folders, a million-line log, 150,000 epochs, an endless scenario file).

Each case runs in a child process under a time limit and an address-space limit, so a reader
that blocks on a FIFO or grows without bound fails its case instead of freezing or swapping
pytest; the child builds its input itself (the test process never touches a FIFO).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURE_RUN = TESTS / "fixtures" / "runs" / "quick" / "20260101-120000"
CASE_SECONDS = 120
"""What one case may take in all, its input built (a hang fails at this limit)."""
READ_SECONDS = 20
"""What reading may take: the readers answer these inputs in a few seconds (before this
fix, the large ones took 45 to 550 s)."""
CASE_MEMORY = 3 * 1024**3
"""Address space of a case's process (Python, NumPy and protobuf take a few hundred MB)."""
HOSTILE = ("fifo", "link_loop", "large")
BAD_LINES = 200_000
EPOCHS = 150_000
EVENT_FILES = 4_000
RUN_FOLDERS = 20_000
LONG_LINE = 20 * 1024 * 1024
"""Longer than any line a reader keeps (`MAX_JSON_BYTES`, 16 MB)."""


_READ_STARTED: list[float] = []


def reading() -> None:
    """Mark where a case's input is built and its reading starts (what `READ_SECONDS` times)."""
    _READ_STARTED.append(time.monotonic())


# -- inputs --------------------------------------------------------------------------------
def event_file_bytes(steps: range, tags: tuple[str, ...] = ("epoch_loss", "epoch_accuracy")):
    """An event file as Keras writes it (version header, one scalar tensor per tag and step)."""
    import io

    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    from tensorboard.summary.writer.record_writer import RecordWriter

    stream = io.BytesIO()
    writer = RecordWriter(stream)
    writer.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
    for step in steps:
        for tag in tags:
            summary = scalar_pb(tag, step / 10)
            event = event_pb2.Event(wall_time=10.0 + step, step=step, summary=summary)
            writer.write(event.SerializeToString())
    return stream.getvalue()


def logdir(tmp: Path, hostile: str) -> Path:
    """A Keras-style log folder (`mlp/train`, `mlp/validation`), with the hostile part."""
    top = tmp / "logs"
    for part in ("train", "validation"):
        (top / "mlp" / part).mkdir(parents=True)
        (top / "mlp" / part / "events.out.tfevents.1.host.v2").write_bytes(
            event_file_bytes(range(3))
        )
    train = top / "mlp" / "train"
    if hostile == "fifo":
        os.mkfifo(train / "events.out.tfevents.2.host.v2")
        os.mkfifo(top / "events.out.tfevents.3.host.v2")
    elif hostile == "link_loop":
        (train / "up").symlink_to("..")
        (train / "here").symlink_to(".")
        (top / "mlp" / "validation" / "top").symlink_to(top)
        (train / "events.out.tfevents.4.host.v2").symlink_to("events.out.tfevents.4.host.v2")
    elif hostile == "large":  # many small event files in one folder: TensorBoard lists it
        one = event_file_bytes(range(3, 4))
        for index in range(EVENT_FILES):
            (train / f"events.out.tfevents.{index + 10:06d}.host.v2").write_bytes(one)
    return top


def run_folder(tmp: Path, hostile: str, status: str = "finished") -> Path:
    """A stored run (two epochs of the fixture's first trial) with the hostile part."""
    folder = tmp / "runs" / "quick" / "20260101-120000"
    folder.mkdir(parents=True)
    meta = json.loads((FIXTURE_RUN / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "status": status}))
    events = folder / "events.jsonl"
    if hostile == "fifo":
        os.mkfifo(events)
    elif hostile == "link_loop":
        events.symlink_to("events.jsonl")
    else:
        events.write_text("\n".join(stored_lines(EPOCHS)) + "\n")
    return folder


def stored_lines(epochs: int, bad: int = 0) -> list[str]:
    lines = (FIXTURE_RUN / "events.jsonl").read_text().splitlines()
    started = json.loads(lines[1])
    out = [lines[0], json.dumps({**started, "trial": "plain", "epochs": epochs})]
    for epoch in range(1, epochs + 1):
        logs = {"loss": 1 / epoch, "accuracy": 1 - 1 / epoch, "val_loss": 2 / epoch}
        out.append(
            json.dumps(
                {"event": "epoch_ended", "trial": "plain", "epoch": epoch, "logs": logs,
                 "learning_rate": 0.01, "seconds": 0.1, "samples_per_second": 10.0}
            )
        )  # fmt: skip
    out.extend(f"garbage {index} {{" for index in range(bad))
    out.append(json.dumps({"event": "run_finished", "status": "finished", "seconds": 1.0}))
    return out


def with_bad_lines(folder: Path) -> None:
    """A million-line log's shape: bad lines, one over-long line, and good events after."""
    with open(folder / "events.jsonl", "w") as stream:
        good = stored_lines(2)
        stream.write("\n".join(good[:-1]) + "\n")
        stream.write("".join(f"not an event {index}\n" for index in range(BAD_LINES)))
        stream.write("x" * LONG_LINE + "\n")
        stream.write(good[-1] + "\n")


def scenario_file(tmp: Path, hostile: str) -> Path:
    path = tmp / "x.toml"
    if hostile == "fifo":
        os.mkfifo(path)
    elif hostile == "link_loop":
        path.symlink_to("x.toml")
    else:
        path.symlink_to("/dev/zero")  # endless: a reader that reads it all never ends
    return path


def runs_root(tmp: Path, hostile: str) -> Path:
    root = tmp / "runs"
    (root / "quick" / "20260101-120000").mkdir(parents=True)
    shutil.copy(FIXTURE_RUN / "run.json", root / "quick" / "20260101-120000" / "run.json")
    if hostile == "fifo":
        os.mkfifo(root / "piped")
        (root / "quick" / "20260102-120000").mkdir()
        os.mkfifo(root / "quick" / "20260102-120000" / "run.json")
    elif hostile == "link_loop":
        (root / "loop").symlink_to("loop")
        (root / "quick" / "up").symlink_to("..")
    else:
        for index in range(RUN_FOLDERS):
            stamp = root / "many" / f"2026{index:010d}"
            stamp.mkdir(parents=True)
            (stamp / "run.json").write_text("{}")
    return root


def scenario_folder(tmp: Path, hostile: str) -> Path:
    folder = tmp / "scenarios"
    folder.mkdir()
    (folder / "good.toml").write_text("[scenario]\n")
    if hostile == "fifo":
        os.mkfifo(folder / "pipe.toml")
    elif hostile == "link_loop":
        (folder / "loop").symlink_to("loop")
        (folder / "sub").mkdir()
        (folder / "sub" / "up").symlink_to("..")
    else:
        for index in range(RUN_FOLDERS):
            (folder / f"s{index:06d}.toml").touch()
    return folder


# -- readers (each reads its input and checks what it got) ---------------------------------
def show_logdir(tmp: Path, hostile: str) -> None:
    from typer.testing import CliRunner

    from tuilab.cli import app

    top = logdir(tmp, hostile)
    reading()
    result = CliRunner().invoke(app, ["show", str(top)], terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "TensorBoard: logs" in result.output and "mlp" in result.output
    if hostile == "fifo":
        assert "not a regular file (skipped)" in result.output


def tensorboard_runs(tmp: Path, hostile: str) -> None:
    from tuilab.runtime.events import EpochEnded
    from tuilab.runtime.tensorboard_read import is_tensorboard_logdir, read_tensorboard

    top, only, runs = logdir(tmp, "plain"), tmp / "only_fifo" / "run", tmp / "many"
    if hostile == "fifo":  # a folder whose only "event file" is a FIFO
        only.mkdir(parents=True)
        os.mkfifo(only / "events.out.tfevents.1.host.v2")
    elif hostile == "link_loop":  # a link loop as the folder given, and at every level
        (tmp / "loop").symlink_to("loop")
        for folder in (top, top / "mlp", top / "mlp" / "train"):
            (folder / "again").symlink_to(top)
    else:  # run folders past `MAX_RUNS`
        one = event_file_bytes(range(1, 3))
        for index in range(RUN_FOLDERS):
            (runs / f"r{index:05d}").mkdir(parents=True)
            (runs / f"r{index:05d}" / "events.out.tfevents.1.host.v2").write_bytes(one)
    reading()
    if hostile == "fifo":  # is no log folder
        assert not is_tensorboard_logdir(only.parent)
        assert read_tensorboard(only.parent)[1:-1] == []
    elif hostile == "link_loop":
        assert not is_tensorboard_logdir(tmp / "loop")
    else:  # the first 200 are read, the rest never walked
        events = read_tensorboard(runs)
        assert len({e.trial for e in events if isinstance(e, EpochEnded)}) == 200
    assert is_tensorboard_logdir(top)
    epochs = [e for e in read_tensorboard(top) if isinstance(e, EpochEnded)]
    assert [(e.trial, e.epoch) for e in epochs] == [("mlp", 1), ("mlp", 2), ("mlp", 3)]
    assert epochs[-1].logs == pytest.approx(
        {"loss": 0.2, "accuracy": 0.2, "val_loss": 0.2, "val_accuracy": 0.2}
    )


def read_events(tmp: Path, hostile: str) -> None:
    from tuilab.errors import RunStoreError
    from tuilab.runtime.run_folder import RunFolder

    folder = run_folder(tmp, hostile)
    if hostile != "large":
        reading()
        with pytest.raises(RunStoreError):
            RunFolder(folder).read_events()
        return
    with_bad_lines(folder)
    reading()
    log = RunFolder(folder).read_events()
    assert [e.kind for e in log.events][-1] == "run_finished"  # the lines after are read
    assert len(log.problems) <= 21, f"{len(log.problems):,} problems kept"
    assert log.problems[0].startswith("events.jsonl line 5: not JSON")
    assert log.problems[-1] == f"and {BAD_LINES + 1 - 20:,} more bad lines"


def replay(tmp: Path, hostile: str) -> None:
    """`load_run` then the curves `show`, `report` and the app fold from its events."""
    from tuilab.errors import RunStoreError
    from tuilab.runtime.curves import CurveBook
    from tuilab.runtime.stored import load_run

    folder = run_folder(tmp, hostile)
    reading()
    if hostile != "large":
        with pytest.raises(RunStoreError):
            load_run(folder)
        return
    stored = load_run(folder)
    curves = CurveBook()
    for event in stored.events:
        curves.handle(event)
    assert stored.book.trials["plain"].epochs == EPOCHS and not stored.problems
    curve = curves.curves["plain"]
    assert len(curve.epochs) == EPOCHS
    assert {name: len(series) for name, series in curve.values.items()} == {
        name: EPOCHS for name in ("loss", "accuracy", "val_loss", "learning_rate")
    }


def follow(tmp: Path, hostile: str) -> None:
    """`attach`: the follower polls like the dashboard's worker until the run is over."""
    from tuilab.runtime import follow as following
    from tuilab.runtime.follow import EventFollower
    from tuilab.runtime.run_folder import RunFolder

    following.STATUS_EVERY_S = 0.0
    folder = run_folder(tmp, hostile, status="running")
    if hostile == "large":  # a live run's log with garbage appended, the last line endless
        with_bad_lines(folder)
        with open(folder / "events.jsonl", "a") as stream:
            stream.write("y" * LONG_LINE)
    reading()
    follower = EventFollower(RunFolder(folder))
    events = []
    for _ in range(100):
        events += follower.poll()
        if follower.ended:
            break
    assert follower.ended  # the dashboard then reports the run's status: Quit works
    if hostile == "fifo":
        said = "events.jsonl is not a regular file: it is a named pipe"
        assert follower.problems == [f"events.jsonl cannot be followed: {said}"]
    if hostile == "large":
        assert [e.kind for e in events][-1] == "run_finished"
        assert len(follower.problems) <= 21, f"{len(follower.problems):,} problems kept"
        assert follower.problems[-1] == f"and {BAD_LINES + 2 - 20:,} more bad lines"


def complete_variant(tmp: Path, hostile: str) -> None:
    from tuilab.cli.completion import complete_variant

    path = scenario_file(tmp, hostile)
    reading()
    assert complete_variant(SimpleNamespace(params={"scenario": str(path)}), "") == []


def complete_run(tmp: Path, hostile: str) -> None:
    from tuilab.cli.completion import MAX_RUNS, complete_run

    root = runs_root(tmp, hostile)
    reading()
    offered = complete_run(SimpleNamespace(params={"runs": str(root)}), "")
    if hostile == "large":
        newest = ["latest", "quick/20260101-120000", f"many/2026{RUN_FOLDERS - 1:010d}"]
        assert len(offered) == MAX_RUNS + 1 and offered[:3] == newest
    else:
        assert offered == ["latest", "quick/20260101-120000"]


def complete_scenario(tmp: Path, hostile: str) -> None:
    from tuilab.cli.completion import complete_scenario

    folder = scenario_folder(tmp, hostile)
    reading()
    offered = complete_scenario(f"{folder}/")
    assert f"{folder}/good.toml" in offered
    assert complete_scenario(f"{folder}/go") == [f"{folder}/good.toml"]


# -- the folds and the record framing: one check each ---------------------------------
def new_metric_every_epoch(tmp: Path, _: str) -> None:
    from tuilab.runtime.curves import CurveBook
    from tuilab.runtime.events import EpochEnded, VariantResumed, VariantStarted

    epochs = 8_000
    curves = CurveBook()
    curves.handle(VariantStarted("t", "t", 1, 0, epochs, 0, 0))
    for epoch in range(1, epochs + 1):  # a new metric every epoch: N NaNs each, uncapped
        curves.handle(EpochEnded("t", epoch, {f"m{epoch}": 1.0, "loss": 0.5}, 0.1, 0.0, 0.0))
    curve = curves.curves["t"]
    assert len(curve.values) <= 256, f"{len(curve.values):,} series of up to {epochs:,} values"
    assert curve.values["loss"] == [0.5] * epochs
    assert all(len(series) == epochs for series in curve.values.values())
    for epoch in range(epochs, 0, -1):  # a resume after every epoch, last to first
        curves.handle(VariantResumed("t", "t", 1, 0, epochs, epoch - 1, 0, 0))
    assert curve.epochs == [] and curve.values["loss"] == []


def restart_and_sampling(tmp: Path, _: str) -> None:
    """TensorBoard's purge (`SessionLog.START`) and reservoir, both in linear time."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    from tensorboard.summary.writer.record_writer import RecordWriter

    from tuilab.runtime.events import EpochEnded
    from tuilab.runtime.tensorboard_read import MAX_POINTS, read_tensorboard

    def write(name: str, steps: list[int], restart_at: int | None = None) -> None:
        with open(tmp / name, "wb") as stream:
            writer = RecordWriter(stream)
            header = event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")
            writer.write(header.SerializeToString())
            if restart_at is not None:
                start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
                restart = event_pb2.Event(wall_time=2.0, step=restart_at, session_log=start)
                writer.write(restart.SerializeToString())
            for step in steps:
                value = scalar_pb("epoch_loss", float(step))
                event = event_pb2.Event(wall_time=3.0 + step, step=step, summary=value)
                writer.write(event.SerializeToString())

    write("events.out.tfevents.1.a", list(range(1, 11)))
    write("events.out.tfevents.2.b", [6, 7], restart_at=6)  # crashed after 10, went on at 6
    epochs = [e.epoch for e in read_tensorboard(tmp) if isinstance(e, EpochEnded)]
    assert epochs == [1, 2, 3, 4, 5, 6, 7]
    write("events.out.tfevents.3.c", list(range(100, 100 + 3 * MAX_POINTS)))
    epochs = [e.epoch for e in read_tensorboard(tmp) if isinstance(e, EpochEnded)]
    assert len(epochs) == MAX_POINTS and epochs[-1] == 99 + 3 * MAX_POINTS


def huge_scalar_shape(tmp: Path, _: str) -> None:
    """`make_ndarray` would repeat the one value as many times as the shape claims."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    from tuilab.runtime.events import EpochEnded
    from tuilab.runtime.tensorboard_read import read_tensorboard

    shape = tensor_shape_pb2.TensorShapeProto(dim=[{"size": 2**40}])
    huge = tensor_pb2.TensorProto(dtype=1, tensor_shape=shape, float_val=[1.0])
    metadata = summary_pb2.SummaryMetadata(plugin_data={"plugin_name": "scalars"})
    value = summary_pb2.Summary.Value(tag="epoch_loss", tensor=huge, metadata=metadata)
    with open(tmp / "events.out.tfevents.1.a", "wb") as stream:
        event = event_pb2.Event(step=1, summary=summary_pb2.Summary(value=[value]))
        RecordWriter(stream).write(event.SerializeToString())
    assert [e for e in read_tensorboard(tmp) if isinstance(e, EpochEnded)] == []


def corrupt_records(tmp: Path, _: str) -> None:
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    from tuilab.runtime.stored import load_run

    good = event_file_bytes(range(1, 4))
    (tmp / "run").mkdir()
    (tmp / "run" / "events.out.tfevents.1.a").write_bytes(good + b"\xff" * 40)
    claims = (2**62).to_bytes(8, "little")  # a length far past the end, its check valid
    header = claims + masked_crc32c(claims).to_bytes(4, "little")
    (tmp / "run" / "events.out.tfevents.2.b").write_bytes(good + header + b"\0" * 100)
    stored = load_run(tmp)
    assert stored.book.trials["run"].epochs == 3
    assert stored.problems == [
        f"run/events.out.tfevents.1.a: a corrupt record at byte {len(good):,}"
    ]


READERS: dict[str, Callable[[Path, str], None]] = {
    "show LOGDIR": show_logdir,
    "read_tensorboard": tensorboard_runs,
    "read_events": read_events,
    "replay": replay,
    "follow": follow,
    "complete_variant": complete_variant,
    "complete_run": complete_run,
    "complete_scenario": complete_scenario,
}
FOLDS: dict[str, Callable[[Path, str], None]] = {
    "a new metric at every epoch, then a resume after each": new_metric_every_epoch,
    "a restart, and more steps than are kept": restart_and_sampling,
    "a scalar claiming 2**40 elements": huge_scalar_shape,
    "a corrupt record, and one claiming 2**62 bytes": corrupt_records,
}
CHECKS = {**READERS, **FOLDS}
CASES = [(reader, hostile) for reader in READERS for hostile in HOSTILE]

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    import test_readers_hostile as cases
    started = time.monotonic()
    cases.CHECKS[sys.argv[1]](Path(sys.argv[3]), sys.argv[2])
    read = time.monotonic() - (cases._READ_STARTED or [started])[-1]
    # VmHWM is this process's own peak; ru_maxrss keeps the forking parent's across exec
    # (a pytest process that imported TensorFlow), so it would measure the test runner.
    status = Path("/proc/self/status")
    lines = status.read_text().splitlines() if status.exists() else []
    hwm = [int(line.split()[1]) for line in lines if line.startswith("VmHWM:")]
    peak = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({{"read_seconds": read, "peak_kb": peak}}))
    """
).format(tests=str(TESTS))


def _limited() -> None:  # in the child, before it runs
    resource.setrlimit(resource.RLIMIT_AS, (CASE_MEMORY, CASE_MEMORY))


def run_case(reader: str, hostile: str, tmp: Path) -> dict[str, float]:
    """Run one case in a child process; fail on a hang, a crash or a failed check."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, reader, hostile, str(tmp)],
            capture_output=True,
            text=True,
            timeout=CASE_SECONDS,
            env=env,
            cwd=tmp,
            preexec_fn=_limited,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{reader} given {hostile}: still running after {CASE_SECONDS} s (a hang)")
    assert done.returncode == 0, (
        f"{reader} given {hostile} failed after {time.monotonic() - started:.1f} s:\n"
        + done.stderr[-4000:]
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(CASE_SECONDS + 30)
@pytest.mark.parametrize(("reader", "hostile"), CASES, ids=[f"{r}-{h}" for r, h in CASES])
def test_readers_never_hang_and_never_grow(reader: str, hostile: str, tmp_path: Path) -> None:
    measured = run_case(reader, hostile, tmp_path)
    assert measured["read_seconds"] < READ_SECONDS, f"read in {measured['read_seconds']:.1f} s"
    assert measured["peak_kb"] < 1024 * 1024, f"{measured['peak_kb'] / 1024:.0f} MB at peak"


@pytest.mark.timeout(CASE_SECONDS + 30)
@pytest.mark.parametrize("check", list(FOLDS))
def test_folds_stay_linear_and_records_are_framed_safely(check: str, tmp_path: Path) -> None:
    """In a child too: the reader before this one crashed its process on the 2**62 record
    (TensorFlow's record reader: a segmentation fault) and filled 4 TiB for the 2**40 one."""
    measured = run_case(check, "-", tmp_path)
    assert measured["read_seconds"] < READ_SECONDS, f"read in {measured['read_seconds']:.1f} s"
