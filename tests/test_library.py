"""The run library: tags, notes, the trash (delete, restore, purge), and `tuilab runs` filters.

Every test works on copies of the stored fixture run, through the real command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.errors import UsageError
from tuilab.presentation.text import has_control
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.run_listing import list_runs
from tuilab.runtime.run_query import RunQuery, parse_since

STORED_RUN = ROOT / "tests" / "fixtures" / "runs" / "quick" / "20260101-120000"
RUNS = {  # run id: started, scenario name, best validation accuracy of trial `bn`, status
    "quick/20260101-120000": ("2026-01-01T12:00:00", "Quick test", 0.4653, "finished"),
    "quick/20260102-090000": ("2026-01-02T09:00:00", "Quick test", 0.71, "failed"),
    "digits/20261120-101500": ("2026-11-20T10:15:00", "Digits MLP", 0.93, "finished"),
    "cifar/20261121-080000": ("2026-11-21T08:00:00", "CIFAR BN", 0.55, "stopped"),
}


def edit_json(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Four runs of three scenarios, in three statuses, with different best accuracies."""
    root = tmp_path / "runs"
    for run_id, (started, name, best, status) in RUNS.items():
        folder = root / run_id
        shutil.copytree(STORED_RUN, folder)
        stem = run_id.split("/")[0]
        edit_json(
            folder / "run.json",
            lambda d, s=started, n=name, t=status, m=stem: {
                **d,
                "started": s,
                "scenario": n,
                "status": t,
                "stem": m,
            },
        )

        def better(doc, value=best):
            doc["trials"]["bn"]["best"]["val_accuracy"] = value
            return doc

        edit_json(folder / "results.json", better)
    return root


def invoke(root: Path, *args: str, columns: int = 100, input: str | None = None):
    return CliRunner().invoke(
        app, [*args, "--runs-dir", str(root)], env={"COLUMNS": str(columns)}, input=input
    )


def ok(root: Path, *args: str, **kwargs) -> str:
    result = invoke(root, *args, **kwargs)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and not has_control(result.output)
    return result.output


def refused(root: Path, *args: str, code: int = 2, **kwargs) -> str:
    result = invoke(root, *args, **kwargs)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and not has_control(result.output)
    assert len(result.output.strip().splitlines()) <= 3, result.output  # a short message
    return result.output


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under a folder, by relative path, with its content hash."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def listed(output: str) -> list[str]:
    """The run ids of a `tuilab runs` table, top to bottom."""
    return [
        line.split("│")[1].strip()
        for line in output.splitlines()
        if line.startswith("│") and "/" in line.split("│")[1]
    ]


# -- tags and notes --------------------------------------------------------------------------
def test_tag_and_untag_round_trip(runs):
    run = runs / "quick" / "20260101-120000"
    before = fingerprint(run)
    assert "tags: best, adam" in ok(runs, "tag", "quick/20260101-120000", "best", "adam")
    assert "tags: best, adam, bn-0.99" in ok(
        runs, "tag", "quick/20260101-120000", "bn-0.99", "adam"
    )
    assert (run / "tags.txt").read_text() == "best\nadam\nbn-0.99\n"  # one a line, plain
    assert RunFolder(run).info().tags == ("best", "adam", "bn-0.99")
    assert "tags: best, adam, bn-0.99" in ok(runs, "tag", "quick/20260101-120000")
    assert "tags: best" in ok(runs, "tag", "quick/20260101-120000", "--untag", "adam", "bn-0.99")
    assert "had no tag zz" in ok(runs, "tag", "quick/20260101-120000", "--untag", "zz")
    ok(runs, "tag", "quick/20260101-120000", "--untag", "best")
    assert fingerprint(run) == before  # no tags left: no tags.txt


@pytest.mark.parametrize("bad", ["two words", "[red]x[/]", "\x1b[2J", "_under", "a" * 33, "é"])
def test_a_bad_tag_is_refused_with_what_a_tag_is(runs, bad):
    output = refused(runs, "tag", "quick/20260101-120000", "ok", bad)
    assert "is not a tag: a tag is a letter or digit" in output
    assert not (runs / "quick" / "20260101-120000" / "tags.txt").exists()  # nothing written


def test_too_many_tags_are_refused(runs):
    tags = [f"t{i}" for i in range(65)]
    assert "at most 64 tags" in refused(runs, "tag", "quick/20260101-120000", *tags)


def test_note_round_trip_and_where_it_shows(runs):
    run = runs / "digits" / "20261120-101500"
    before = fingerprint(run)
    text = "BN after the activation wins.\nNext: momentum 0.9"
    assert "note saved" in ok(runs, "note", "digits/20261120-101500", text)
    assert (run / "note.md").read_text() == text + "\n"
    ok(runs, "tag", "digits/20261120-101500", "best")
    assert RunFolder(run).info().note == text
    assert "Next: momentum 0.9" in ok(runs, "note", "digits/20261120-101500")
    shown = ok(runs, "show", "digits/20261120-101500")
    assert "tags: best" in shown and "note: BN after the activation wins." in shown
    assert "Next: momentum 0.9" in shown  # show prints the whole note
    compared = ok(runs, "compare", "digits/20261120-101500", "quick/20260101-120000")
    assert "Tags and notes" in compared and "BN after the activation wins." in compared
    report = ok(runs, "report", "digits/20261120-101500")
    assert "- tags: best" in report
    assert "## Note\n\n    BN after the activation wins.\n    Next: momentum 0.9\n" in report
    table = ok(runs, "report", "digits/20261120-101500", "--format", "csv")
    assert table.splitlines()[0].endswith(",tags,note")
    assert table.splitlines()[1].endswith(",best,BN after the activation wins. Next: momentum 0.9")
    listing = ok(runs, "runs", columns=160)
    assert "BN after the activation wins. …" in listing  # the first line, more to come
    ok(runs, "note", "digits/20261120-101500", "")
    ok(runs, "tag", "digits/20261120-101500", "--untag", "best")
    assert fingerprint(run) == before


def test_a_note_over_4_kb_is_refused(runs):
    assert "at most 4 KB" in refused(runs, "note", "quick/20260101-120000", "x" * 4097)
    assert not (runs / "quick" / "20260101-120000" / "note.md").exists()


# -- the trash -------------------------------------------------------------------------------
def test_delete_then_restore_gives_back_the_same_files(runs):
    run = runs / "digits" / "20261120-101500"
    ok(runs, "tag", "digits/20261120-101500", "best")
    before = fingerprint(run)
    output = ok(runs, "delete", "digits/20261120-101500", "quick/20260102-090000")
    assert "moved digits/20261120-101500 to the trash" in output
    assert not run.exists() and (runs / ".trash" / "digits" / "20261120-101500").is_dir()
    assert {i.run_id for i in list_runs(runs)} == {
        "quick/20260101-120000",
        "cifar/20261121-080000",
    }
    trash = ok(runs, "runs", "--trash")
    assert listed(trash) == ["digits/20261120-101500", "quick/20260102-090000"]
    assert "best" in trash and "tuilab restore RUN" in trash
    assert "restored digits/20261120-101500" in ok(runs, "restore", "digits/20261120-101500")
    assert fingerprint(run) == before  # the trash record is gone again
    assert not (runs / ".trash" / "digits").exists()
    ok(runs, "restore", "20260102-090000")  # a stamp will do
    assert not list((runs / ".trash").iterdir())


def test_a_run_deleted_twice_keeps_both_copies_and_restore_needs_its_place_free(runs):
    run = runs / "quick" / "20260101-120000"
    spare = runs.parent / "spare"
    shutil.copytree(run, spare)
    ok(runs, "delete", "quick/20260101-120000")
    shutil.copytree(spare, run)  # the same run again (rsync'd back)
    ok(runs, "delete", "quick/20260101-120000")
    assert listed(ok(runs, "runs", "--trash")) == [
        "quick/20260101-120000~2",
        "quick/20260101-120000",
    ]
    shutil.copytree(spare, run)
    assert "exists: move it away first" in refused(runs, "restore", "quick/20260101-120000")
    shutil.rmtree(run)
    ok(runs, "restore", "quick/20260101-120000~2")
    assert fingerprint(run) == fingerprint(spare)
    assert "exists" in refused(runs, "restore", "quick/20260101-120000")


def test_delete_names_runs_exactly(runs):
    assert "name one run exactly" in refused(runs, "delete", "latest")
    assert "name one run exactly" in refused(runs, "delete", "quick")
    assert "no stored run 'nope'" in refused(runs, "delete", "nope")
    assert "no run 'nope' in the trash" in refused(runs, "restore", "nope")
    assert len(list_runs(runs)) == 4


def test_purge_asks_and_deletes_only_when_told(runs):
    ok(runs, "delete", "quick/20260102-090000", "cifar/20261121-080000")
    for answer in (None, "n\n"):  # no answer (not a terminal), then "no"
        result = invoke(runs, "purge", input=answer)
        assert result.exit_code == 1 and "nothing deleted" in result.output
        assert "quick/20260102-090000" in result.output and "cifar/20261121-080000" in result.output
        assert len(list(runs.glob(".trash/*/*"))) == 2
    output = ok(runs, "purge", input="y\n")
    assert "deleted 2 run(s) for good" in output and not (runs / ".trash").exists()
    assert len(list_runs(runs)) == 2
    ok(runs, "delete", "digits/20261120-101500")
    assert "deleted 1 run(s)" in ok(runs, "purge", "--yes")
    assert "the trash is empty" in ok(runs, "purge")
    assert [i.run_id for i in list_runs(runs)] == ["quick/20260101-120000"]


def test_a_live_run_is_never_deleted(runs):
    run = runs / "cifar" / "20261121-080000"
    edit_json(
        run / "run.json",
        lambda d: {**d, "status": "running", "host": socket.gethostname(), "pid": os.getpid()},
    )
    (run / "heartbeat").touch()
    before = fingerprint(run)
    output = refused(runs, "delete", "quick/20260102-090000", "cifar/20261121-080000")
    assert "cifar/20261121-080000 is running: stop it first" in output
    assert fingerprint(run) == before
    assert (runs / "quick" / "20260102-090000").is_dir()  # nothing moved when one is refused
    (run / "run.json").write_text("[1]")  # unreadable, but its heartbeat is fresh
    assert "is running" in refused(runs, "delete", "cifar/20261121-080000")


# -- links -----------------------------------------------------------------------------------
def test_a_run_that_is_a_link_is_not_moved(runs, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(runs / "cifar" / "20261121-080000", elsewhere)
    (runs / "cifar" / "20261121-080000").symlink_to(elsewhere)
    assert "is a symbolic link" in refused(runs, "delete", "cifar/20261121-080000")
    outside = tmp_path / "outside"
    shutil.copytree(STORED_RUN, outside / "20260101-000000")
    (runs / "linked").symlink_to(outside)
    assert "is a symbolic link" in refused(runs, "delete", "linked/20260101-000000")
    other = tmp_path / "other-runs" / "quick" / "20260101-120000"
    shutil.copytree(STORED_RUN, other)
    assert "is not a run of the runs folder" in refused(runs, "delete", str(other))
    assert elsewhere.is_dir() and other.is_dir() and (outside / "20260101-000000").is_dir()


def test_a_trash_that_is_a_link_is_refused_and_what_it_points_to_survives(runs, tmp_path):
    precious = tmp_path / "precious"
    shutil.copytree(STORED_RUN, precious / "quick" / "x")
    (runs / ".trash").symlink_to(precious)
    assert "is a symbolic link" in refused(runs, "delete", "quick/20260101-120000")
    assert "is a symbolic link" in refused(runs, "purge", "--yes")
    assert "is a symbolic link" in refused(runs, "runs", "--trash")
    assert "is a symbolic link" in refused(runs, "restore", "quick/x")
    assert (precious / "quick" / "x" / "run.json").is_file()
    assert (runs / "quick" / "20260101-120000").is_dir()


def test_purge_removes_links_in_the_trash_not_what_they_point_to(runs, tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "file").write_text("mine")
    ok(runs, "delete", "quick/20260101-120000")
    trashed = runs / ".trash" / "quick" / "20260101-120000"
    (trashed / "variants" / "link").symlink_to(keep)
    (runs / ".trash" / "stray").symlink_to(keep)
    (runs / ".trash" / "quick" / "link").symlink_to(keep)
    ok(runs, "purge", "--yes")
    assert (keep / "file").read_text() == "mine" and not (runs / ".trash").exists()


# -- filters and sorting ---------------------------------------------------------------------
@pytest.fixture
def tagged(runs):
    ok(runs, "tag", "quick/20260101-120000", "baseline", "adam")
    ok(runs, "tag", "digits/20261120-101500", "best", "adam")
    ok(runs, "note", "cifar/20261121-080000", "Momentum 0.5 diverged; try 0.9")
    return runs


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), list(reversed(RUNS))),  # newest first
        (("--scenario", "quick"), ["quick/20260102-090000", "quick/20260101-120000"]),
        (("--scenario", "digits mlp"), ["digits/20261120-101500"]),
        (("--status", "finished"), ["digits/20261120-101500", "quick/20260101-120000"]),
        (("--status", "stopped"), ["cifar/20261121-080000"]),
        (("--tag", "adam"), ["digits/20261120-101500", "quick/20260101-120000"]),
        (("--tag", "adam", "--tag", "best"), ["digits/20261120-101500"]),
        (("--tag", "nobody"), []),
        (("--since", "2026-11-20"), ["cifar/20261121-080000", "digits/20261120-101500"]),
        (("--since", "2026-11-20T12:00"), ["cifar/20261121-080000"]),
        (("--grep", "MOMENTUM"), ["cifar/20261121-080000"]),  # the note
        (("--grep", "baseline"), ["quick/20260101-120000"]),  # a tag
        (("--grep", "cifar bn"), ["cifar/20261121-080000"]),  # the scenario name
        (("--grep", "0102"), ["quick/20260102-090000"]),  # the run id
        (("--grep", "plain"), list(reversed(RUNS))),  # a variant
        (
            ("--status", "finished", "--tag", "adam", "--scenario", "quick"),
            ["quick/20260101-120000"],
        ),
        (
            ("--sort", "best_val_accuracy"),
            [
                "digits/20261120-101500",
                "quick/20260102-090000",
                "cifar/20261121-080000",
                "quick/20260101-120000",
            ],
        ),
        (
            ("--sort", "scenario"),  # CIFAR BN, Digits MLP, Quick test (newest first within)
            [
                "cifar/20261121-080000",
                "digits/20261120-101500",
                "quick/20260102-090000",
                "quick/20260101-120000",
            ],
        ),
        (
            ("--sort", "status", "--since", "2026-01-02"),
            ["quick/20260102-090000", "digits/20261120-101500", "cifar/20261121-080000"],
        ),
        (
            ("--sort", "started", "--tag", "adam"),
            ["digits/20261120-101500", "quick/20260101-120000"],
        ),
    ],
)
def test_filters_and_sorting_select_and_order_the_right_runs(tagged, options, expected):
    output = ok(tagged, "runs", *options, columns=200)
    assert listed(output) == expected
    if len(expected) < len(RUNS):
        assert f"{len(expected)} of {len(RUNS)} runs match" in output


def test_a_relative_since_counts_back_from_now(tagged):
    now = datetime(2026, 11, 21, 12, 0)
    assert parse_since("2d", now) == datetime(2026, 11, 19, 12, 0)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    two_hours_ago = (datetime.now() - timedelta(hours=2)).isoformat(timespec="seconds")
    edit_json(
        tagged / "cifar" / "20261121-080000" / "run.json",
        lambda d: {**d, "started": two_hours_ago},
    )
    assert listed(ok(tagged, "runs", "--since", "1h")) == []
    assert listed(ok(tagged, "runs", "--since", "3h")) == ["cifar/20261121-080000"]
    query = RunQuery.parse(since="1w")
    week_ago = datetime.now() - timedelta(weeks=1)
    expected = [  # the fixture dates are fixed; the clock is not
        run_id
        for run_id, (started, *_) in RUNS.items()
        if datetime.fromisoformat(started) >= week_ago
    ]
    found = {i.run_id for i in list_runs(tagged) if query.matches(i)}
    assert found == {"cifar/20261121-080000", *expected}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--status", "done"), "--status 'done': one of running, finished"),
        (("--sort", "test_loss"), "--sort 'test_loss': one of started, best_val_accuracy"),
        (("--since", "yesterday"), "give a date (2026-11-20)"),
        (("--tag", "a b"), "'a b' is not a tag"),
    ],
)
def test_a_bad_filter_is_a_one_line_error(runs, options, message):
    assert message in refused(runs, "runs", *options)


def test_query_values_are_checked_when_parsed():
    with pytest.raises(UsageError):
        RunQuery.parse(status="[red]")


def test_the_listing_with_tags_at_80_columns_cuts_no_number(tagged):
    output = ok(tagged, "runs", columns=80)
    table = [line for line in output.splitlines() if str(tagged) not in line]
    assert max(len(line) for line in table) <= 80  # all but the title's path, never split
    assert "…" not in output and "0.4653" in output and "0.4639" in output
    assert "Tags" in output and "baseline" in output  # tags fold into a narrow column


# -- hostile files ---------------------------------------------------------------------------
HOSTILE = {
    "markup": "[bold red]boom[/] [/]",
    "escapes": "\x1b]0;retitled\x07\x1b[2J",
    "bidi": "\u202eevil",
    "huge": "x" * 5000,
    "binary": b"\xff\xfe\x00\x01",
    "nul": "a\x00b",
}


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("name", ["tags.txt", "note.md"])
def test_hostile_tags_and_notes_neither_crash_nor_leak(runs, name, kind):
    run = runs / "quick" / "20260101-120000"
    value = HOSTILE[kind]
    path = run / name
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        path.write_text(value, encoding="utf-8")
    info = RunFolder(run).info()
    tolerable = name == "note.md" and kind in ("markup", "escapes", "bidi", "nul")
    assert (info.status == "finished") == tolerable, info.problem
    if not tolerable:
        assert info.problem.startswith(name) and info.status == "corrupt"
    for command in (
        ("runs",),
        ("runs", "--grep", "boom"),
        ("show", "quick/20260101-120000"),
        ("compare", "quick/20260101-120000"),
        ("report", "quick/20260101-120000"),
        ("report", "quick/20260101-120000", "--format", "csv"),
        ("note", "quick/20260101-120000"),
    ):
        ok(runs, *command, columns=160)  # exit 0, no traceback, no control character
    if kind == "markup" and name == "note.md":  # shown as written, never read as markup
        assert "[bold red]boom[/] [/]" in ok(runs, "show", "quick/20260101-120000")
    if name == "tags.txt" and not tolerable:
        assert "fix or delete" in refused(runs, "tag", "quick/20260101-120000", "more")


@pytest.mark.parametrize("kind", ["link", "fifo", "folder"])
def test_a_tags_or_note_file_that_is_not_a_file_is_reported_never_opened(runs, tmp_path, kind):
    run = runs / "quick" / "20260101-120000"
    secret = tmp_path / "secret"
    secret.write_text("do not show me\n")
    for name in ("tags.txt", "note.md"):
        path = run / name
        if kind == "link":
            path.symlink_to(secret)
        elif kind == "fifo":
            os.mkfifo(path)  # opening it would block
        else:
            path.mkdir()
    info = RunFolder(run).info()
    assert info.status == "corrupt" and info.problem.startswith("tags.txt is ")
    for command in (
        ("runs",),
        ("show", "quick/20260101-120000"),
        ("report", "quick/20260101-120000"),
    ):
        assert "do not show me" not in ok(runs, *command)


def test_hostile_text_given_on_the_command_line_is_stored_and_shown_as_text(runs):
    note = "\x1b]0;retitled\x07[bold]x[/] \u202e"
    ok(runs, "note", "quick/20260101-120000", note)
    assert (runs / "quick" / "20260101-120000" / "note.md").read_text() == note + "\n"
    for command in (
        ("runs",),
        ("show", "quick/20260101-120000"),
        ("report", "quick/20260101-120000"),
    ):
        output = ok(runs, *command, columns=160)
        assert "\\x1b]0;retitled\\x07[bold]x[/]" in output
