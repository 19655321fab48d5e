"""The run folder's boundaries: nothing follows a link out of it, and one process owns it.

One stopped run (trained in a subprocess and ended by SIGTERM after its second epoch, so it
holds a resume state) is built once; every test works on copies of it, through the real
command line. The property tests plant a symbolic link at every depth of that run folder
(files and folders alike) and run every command that writes into a run: nothing outside the
copy may change, whatever the link points to.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.errors import RunStoreError
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.run_lock import RunHeld, RunLock, holder
from tuilab.runtime.store import RunStore

SCENARIO = """
[scenario]
name = "owned"
seed = 1
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 16, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 12
batch_size = 64
"""


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (links not followed): its kind and content hash."""
    found = {}
    for top, folders, files in os.walk(folder):
        for name in (*folders, *files):
            path = Path(top, name)
            if path.is_symlink():
                found[str(path.relative_to(folder))] = "link:" + os.readlink(path)
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[str(path.relative_to(folder))] = digest
            else:
                found[str(path.relative_to(folder))] = "folder"
    return found


def start_run(scenario: Path, runs: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tuilab", *args]
    command += [str(scenario)] if args[0] == "run" else []
    command += ["--headless", "--runs-dir", str(runs)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, what: str, process: subprocess.Popen | None = None, limit: float = 120):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process ended ({process.stderr.read()})")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def epoch_logged(folder: Path, epoch: int) -> bool:
    events = folder / "events.jsonl"
    return events.exists() and f'"epoch":{epoch},' in events.read_text()


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped (SIGTERM) after its second epoch: resumable, with a resume state."""
    root = tmp_path_factory.mktemp("stopped")
    scenario = root / "owned.toml"
    scenario.write_text(SCENARIO.replace("epochs = 12", "epochs = 400"))
    process = start_run(scenario, root / "runs", "run")
    runs = root / "runs" / "owned"
    wait_for(lambda: runs.is_dir() and any(runs.iterdir()), "the run folder", process)
    (folder,) = runs.iterdir()
    wait_for(lambda: epoch_logged(folder, 2), "epoch 2", process)
    wait_for(lambda: (folder / "variants/default/resume/state.json").exists(), "a state", process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    edit = json.loads((folder / "resolved.json").read_text())
    edit["variants"]["default"]["fit"]["epochs"] = 12  # resumes finish quickly
    (folder / "resolved.json").write_text(json.dumps(edit))
    return folder


@pytest.fixture
def run(stopped: Path, tmp_path: Path) -> Path:
    """A fresh copy of the stopped run, in a runs folder of its own."""
    folder = tmp_path / "runs" / "owned" / stopped.name
    shutil.copytree(stopped, folder, symlinks=True)
    return folder


def outside_copy(tmp_path: Path, source: Path) -> Path:
    """A copy of `source` outside the run (what a planted link points to), with a sentinel."""
    outside = tmp_path / "outside" / source.name
    outside.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, outside)
        (outside / "sentinel.txt").write_text("keep me\n")
    else:
        shutil.copyfile(source, outside)
    return outside


def entries(folder: Path) -> list[str]:
    """Every file and folder of a run, relative, at every depth."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- 1. nothing follows a link out of the run folder ----------------------------------------
WRITERS = (
    ("resume", "{run}", "--headless"),
    ("tag", "{run}", "best"),
    ("tag", "{run}", "best", "--untag"),
    ("note", "{run}", "a note"),
    ("delete", "{id}"),
)


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_property_a_link_at_any_depth_is_never_written_through(stopped, tmp_path_factory, data):
    tmp_path = tmp_path_factory.mktemp("link")
    folder = tmp_path / "runs" / "owned" / stopped.name
    shutil.copytree(stopped, folder, symlinks=True)
    (folder / "tags.txt").write_text("old\n")
    (folder / "note.md").write_text("old note\n")
    place = data.draw(st.sampled_from(entries(folder)), label="link at")
    target = folder / place
    outside = outside_copy(tmp_path, target)
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.symlink_to(outside, target_is_directory=outside.is_dir())
    before = fingerprint(outside.parent)
    command = data.draw(st.sampled_from(WRITERS), label="command")
    run_id = f"owned/{folder.name}"
    args = [a.format(run=folder, id=run_id) for a in command]
    result = invoke(*args, "--runs-dir", str(tmp_path / "runs"))
    assert "Traceback" not in result.output
    assert fingerprint(outside.parent) == before, (place, args, result.output)
    if command[0] == "resume":  # refused before anything is written, naming the link
        assert result.exit_code == 2, result.output
        assert "symbolic link" in result.output and place.split("/")[0] in result.output


def test_resume_through_a_linked_resume_folder_deletes_nothing_outside(run, tmp_path):
    state = run / "variants" / "default" / "resume"
    outside = outside_copy(tmp_path, state)
    shutil.rmtree(state)
    state.symlink_to(outside, target_is_directory=True)
    before = fingerprint(outside)
    result = invoke("resume", str(run), "--headless")
    assert result.exit_code == 2
    assert "variants/default/resume" in result.output and "symbolic link" in result.output
    assert fingerprint(outside) == before
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"  # nothing written


def test_the_store_never_appends_or_renames_through_a_link(run, tmp_path):
    """Below the commands: the store's own writers refuse links (a planted temporary name
    too), so a link added after the checks still writes nothing outside."""
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("mine\n")
    history = run / "variants" / "default" / "history.csv"
    history.unlink()
    history.symlink_to(outside)
    with pytest.raises(RunStoreError, match=r"history\.csv is a symbolic link"):
        RunFolder(run).history_csv("default")
    (run / ".results.json.tmp").symlink_to(outside)  # the old fixed temporary name
    from tuilab.runtime.store_files import write_json_atomic

    write_json_atomic(run / "results.json", {"trials": {}})
    assert outside.read_text() == "mine\n"
    assert (run / ".results.json.tmp").is_symlink()  # left alone, not written through


def test_a_folder_is_a_run_only_by_its_own_run_json(tmp_path, stopped):
    """`tuilab tag ../outside best` wrote outside/tags.txt: any folder with event files a
    few levels down counted as a run. A TensorBoard folder is still read, never written."""
    runs = tmp_path / "runs"
    runs.mkdir()
    outside = tmp_path / "outside"
    shutil.copytree(stopped / "variants" / "default" / "tensorboard", outside)
    before = fingerprint(outside)
    for command in (("tag", str(outside), "best"), ("note", str(outside), "x")):
        result = invoke(*command, "--runs-dir", str(runs))
        assert result.exit_code == 2, result.output
        assert "not a tuilab run" in result.output
    assert invoke("stop", str(outside), "--runs-dir", str(runs)).exit_code == 2
    assert fingerprint(outside) == before
    shown = invoke("show", str(outside), "--runs-dir", str(runs))
    assert shown.exit_code == 0, shown.output  # reading a log folder still works


# -- 2. one process owns a run --------------------------------------------------------------
def test_two_resumes_of_one_run_train_it_once(run):
    """Two `tuilab resume` started together: one trains, the other is refused naming it."""
    runs = run.parent.parent
    first = start_run(run, runs, "resume", str(run))
    second = start_run(run, runs, "resume", str(run))
    codes = sorted([first.wait(timeout=180), second.wait(timeout=180)])
    errors = first.stderr.read() + second.stderr.read()
    assert codes == [0, 2], errors
    assert "held by pid" in errors
    lines = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    (resumed,) = [e for e in lines if e["event"] == "variant_resumed"]  # resumed once
    after = lines[lines.index(resumed) :]
    epochs = [e["epoch"] for e in after if e["event"] == "epoch_ended"]
    assert epochs == list(range(resumed["from_epoch"] + 1, 13)), epochs


def test_a_held_run_is_not_resumed_deleted_or_purged(run):
    """A live holder (another process) is named by every command that would change the run."""
    runs = run.parent.parent
    code = (
        "import sys, time; from tuilab.runtime.run_lock import RunLock; "
        "lock = RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder_process = subprocess.Popen(
        [sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder_process.stdout.readline().strip() == "held"
        resumed = invoke("resume", str(run), "--headless")
        assert resumed.exit_code == 2
        assert f"held by pid {holder_process.pid}" in resumed.output
        deleted = invoke("delete", f"owned/{run.name}", "--runs-dir", str(runs))
        assert deleted.exit_code == 2 and f"pid {holder_process.pid}" in deleted.output
        assert run.is_dir()
        with pytest.raises(RunHeld):
            RunStore.reopen(run)
    finally:
        holder_process.kill()
        holder_process.wait()
    assert holder(RunFolder(run)) is None  # a dead holder's lock is taken over at once
    RunLock(run).acquire().release()


def test_a_run_in_the_trash_is_not_resumed_and_a_held_one_not_purged(run):
    runs = run.parent.parent
    assert invoke("delete", f"owned/{run.name}", "--runs-dir", str(runs)).exit_code == 0
    (trashed,) = (runs / ".trash" / "owned").iterdir()
    result = invoke("resume", str(trashed), "--headless")
    assert result.exit_code == 2 and "is in the trash" in result.output, result.output
    assert "tuilab restore" in result.output
    lock = RunLock(trashed).acquire()  # this process holds it, as a training process would
    try:
        purged = invoke("purge", "--yes", "--runs-dir", str(runs))
        assert purged.exit_code == 2 and f"pid {os.getpid()}" in purged.output, purged.output
        assert trashed.is_dir()
    finally:
        lock.release()
    assert invoke("purge", "--yes", "--runs-dir", str(runs)).exit_code == 0
    assert not trashed.exists()


def test_a_stale_stop_request_does_not_stop_the_next_owner(run):
    """A stop request left by a process that died before reading it is discarded with a note
    (it is older than the resume), and the resumed run trains to its end."""
    control = run / "control"
    control.mkdir(mode=0o700, exist_ok=True)
    sent = (datetime.now().astimezone() - timedelta(minutes=5)).isoformat()
    request = {"action": "stop", "factor": None, "trial": None, "sent": sent, "pid": 999999}
    (control / f"{time.time_ns()}-999999.json").write_text(json.dumps(request))
    result = invoke("resume", str(run), "--headless")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    notes = [
        json.loads(line)["reason"]
        for line in (run / "events.jsonl").read_text().splitlines()
        if '"event":"control_refused"' in line
    ]
    assert any("discarded a stop request" in note and "999999" in note for note in notes)
    assert not any(control.iterdir())


# -- 3. resume states are bounded before anything is inflated -------------------------------
def state_of(run: Path) -> tuple[Path, dict]:
    folder = run / "variants" / "default" / "resume"
    return folder, json.loads((folder / "state.json").read_text())


def test_a_resume_state_past_the_trial_is_refused(run):
    folder, state = state_of(run)
    state["epoch"] = 1000
    (folder / "state.json").write_text(json.dumps(state))
    result = invoke("resume", str(run), "--headless")
    assert result.exit_code == 2
    assert "says epoch 1000" in result.output, result.output


def write_archive(path: Path, members: dict[str, tuple[dict, int]]) -> None:
    """An `.npz` written member by member: each a `.npy` header and that many zero bytes
    (streamed and deflated, so a 200 MB member costs a fraction of a MB on disk)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (header, size) in members.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as stream:
                np.lib.format.write_array_header_1_0(stream, header)
                chunk = b"\0" * (1 << 20)
                for start in range(0, size, len(chunk)):
                    stream.write(chunk[: min(len(chunk), size - start)])


@pytest.mark.parametrize("attack", ["huge_shape", "lying_size", "object", "extra"])
def test_a_crafted_resume_archive_is_refused_from_its_headers(run, attack):
    """A small compressed `.npz` whose member claims 200 MB is refused from its headers,
    never inflated; so are a member past its shape's size, object arrays and extra names."""
    folder, state = state_of(run)
    path = folder / state["arrays"]
    with np.load(path) as arrays:
        members = {
            k: (np.lib.format.header_data_from_array_1_0(arrays[k]), arrays[k].nbytes)
            for k in arrays.files
        }
    header, size = members["model_0"]
    if attack == "huge_shape":
        members["model_0"] = ({**header, "shape": (50_000_000,)}, 200_000_000)
        expected = "has shape (50000000,)"
    elif attack == "lying_size":
        members["model_0"] = (header, size + 100_000_000)
        expected = "claims"
    elif attack == "object":
        members["model_0"] = ({**header, "descr": "|O"}, size)
        expected = "not numbers"
    else:
        members["surprise"] = (header, size)
        expected = "arrays, this model at most"
    write_archive(path, members)
    assert path.stat().st_size < 2_000_000
    started = time.perf_counter()
    result = invoke("resume", str(run), "--headless")
    assert result.exit_code == 1, result.output  # the trial fails as it restores, named
    assert "cannot resume default" in result.output or state["arrays"] in result.output
    assert expected in result.output, result.output
    assert time.perf_counter() - started < 60
    assert json.loads((run / "run.json").read_text())["status"] != "finished"
