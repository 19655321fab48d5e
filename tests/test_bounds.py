"""Every input has a bound, checked before work starts, the same at every entrance.

Generated cases at and past each bound (`tuilab/scenario/bounds.py`): a sweep's numbers (ranges,
choices, samples, seed), `--since` (the command line and the app's filter box), synthetic
shapes (`validate` and `tuilab data`), trial names (a sweep's and the steering channel's),
trial counts (a scenario, a stored run read back for resume) and `--parallel`.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import toml_string
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from test_library import runs  # noqa: F401  (fixture)
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.errors import ScenarioError, UsageError
from tuilab.runtime.control import RunControl
from tuilab.runtime.control_channel import MAX_REQUEST_BYTES, ControlChannel, ControlRequest
from tuilab.runtime.run_documents import RunMeta
from tuilab.runtime.run_folder import RunInfo
from tuilab.runtime.run_query import MAX_AGO, RunQuery, parse_since
from tuilab.runtime.runner import plan_trials
from tuilab.scenario import load_scenario
from tuilab.scenario.bounds import (
    INT64_MAX,
    INT64_MIN,
    MAX_DATA_VALUES,
    MAX_PARALLEL,
    MAX_REPEATS,
    MAX_SAMPLE_VALUES,
    MAX_SWEEP_NAME,
    MAX_TRIAL_NAME,
    MAX_TRIALS,
    MAX_VARIANTS,
)
from tuilab.scenario.resolved import scenario_from_resolved
from tuilab.scenario.schema import RunConfig, SyntheticData
from tuilab.scenario.sweep_record import SWEEP_NAME

FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BASE = """
[scenario]
name = "bounds"
seed = 3
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 8, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 1
batch_size = 64
"""
FLOAT_MAX = 1.7976931348623157e308
EDGE_FLOATS = [
    FLOAT_MAX,
    -FLOAT_MAX,
    1.7e308,
    -1.7e308,
    9e307,
    -9e307,
    5e-324,
    -5e-324,
    1e-300,
    0.0,
    -0.0,
    1.0,
    math.inf,
    -math.inf,
    math.nan,
]
EDGE_INTS = [
    0,
    1,
    -1,
    INT64_MAX,
    INT64_MAX + 1,
    INT64_MIN,
    INT64_MIN - 1,
    2**64,
    -(2**64),
    10**30,
    -(10**30),
    10**400,
]
NUMBERS = st.one_of(
    st.sampled_from(EDGE_FLOATS),
    st.sampled_from(EDGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def toml(value: object) -> str:
    """A TOML value (floats written exactly, nan and inf as TOML spells them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return str(value)


def problems_are_located(exc: ScenarioError, path: Path, key: str) -> None:
    """Every problem is `file:line: key...: message`, like the rest of validation."""
    for problem in exc.problems:
        assert problem.line is not None and problem.key.startswith(key), problem
        assert re.match(
            rf"{re.escape(str(path))}:\d+: {re.escape(key)}\S*.*: \S", problem.render(path)
        )


# -- sweeps: every numeric field at its edges ---------------------------------------------

FINITE_EDGES = st.one_of(
    st.sampled_from([v for v in EDGE_FLOATS if math.isfinite(v)]),
    st.sampled_from([v for v in EDGE_INTS if abs(v) < 10**300]),
)
LAWS = st.builds(
    lambda name, bounds: (name, bounds),
    st.sampled_from(["uniform", "log_uniform", "int_uniform", "choice"]),
    st.one_of(
        st.lists(NUMBERS, max_size=3),  # anything: reversed, empty, nan, inf, too many
        st.lists(FINITE_EDGES, min_size=2, max_size=2).map(sorted),  # ordered, at the edges
    ),
)
SWEPT = ["compile.optimizer.learning_rate", "model.layers.0.units", "fit.batch_size"]


def sweep_text(laws: dict[str, tuple[str, list[object]]], samples: object, seed: object) -> str:
    table = "".join(
        f'"{key}" = {{ {name} = {toml(bounds)} }}\n' for key, (name, bounds) in laws.items()
    )
    return (
        BASE
        + f'[sweep]\nmethod = "random"\nsamples = {toml(samples)}\nseed = {toml(seed)}\n'
        + table
    )


@FAST
@given(
    laws=st.lists(st.tuples(st.sampled_from(SWEPT), LAWS), min_size=1, max_size=3),
    seed=st.sampled_from([0, 5, 2**31 - 1]),
)
@example(laws=[(SWEPT[0], ("uniform", [-1.7e308, 1.7e308]))], seed=5)
@example(laws=[(SWEPT[1], ("int_uniform", [-(10**20), 10**20]))], seed=5)
@example(laws=[(SWEPT[1], ("int_uniform", [INT64_MIN, INT64_MAX]))], seed=0)
def test_a_sweep_at_its_numeric_edges_draws_or_is_refused_at_its_line(write_scenario, laws, seed):
    keys = dict(laws)
    path = write_scenario(sweep_text(keys, 3, seed))
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        problems_are_located(exc, path, "sweep")
        event("refused")
        return
    event("drawn")
    assert 1 <= len(scenario.variants) <= 3
    for point in scenario.sweep.trials.values():
        for key, value in zip(scenario.sweep.keys, point.values, strict=True):
            name, bounds = keys[key]
            if name == "choice":
                continue
            low, high = (float(b) for b in bounds) if name != "int_uniform" else bounds
            assert low <= value <= high and math.isfinite(value)
            if name == "int_uniform":
                assert isinstance(value, int) and INT64_MIN <= value <= INT64_MAX


@FAST
@given(
    samples=st.one_of(st.sampled_from([0, 1, MAX_TRIALS, MAX_TRIALS + 1]), NUMBERS),
    seed=st.one_of(st.sampled_from([0, 2**31 - 1, 2**31, -1]), NUMBERS),
)
def test_samples_and_seed_at_their_edges(write_scenario, samples, seed):
    laws = {SWEPT[0]: ("log_uniform", [1e-4, 1e-1]), SWEPT[1]: ("int_uniform", [1, 10**6])}
    path = write_scenario(sweep_text(laws, samples, seed))
    valid = (
        isinstance(samples, int)
        and 1 <= samples <= MAX_TRIALS
        and isinstance(seed, int)
        and 0 <= seed <= 2**31 - 1
    )
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        problems_are_located(exc, path, "sweep")
        assert not valid
    else:
        assert valid and len(scenario.variants) == samples


@pytest.mark.parametrize(
    ("law", "expected"),
    [
        ("{ uniform = [-1.7e308, 1.7e308] }", "width (high - low) is a finite number"),
        ("{ uniform = [-1.7976931348623157e308, 1e308] }", "width (high - low)"),
        ("{ uniform = [1, -1] }", "low <= high"),
        ("{ uniform = [nan, 1] }", "finite numbers"),
        ("{ log_uniform = [-1, 1] }", "positive numbers"),
        ("{ log_uniform = [1, inf] }", "finite numbers"),
        ("{ int_uniform = [0, 9223372036854775808] }", "(int64)"),
        ("{ int_uniform = [-9223372036854775809, 0] }", "(int64)"),
        ("{ int_uniform = [-100000000000000000000, 100000000000000000000] }", "(int64)"),
        ("{ int_uniform = [3, 2] }", "low <= high"),
        ("{ choice = [] }", "at least 1 item"),
        ("{ choice = [1, nan] }", "holds nan or inf"),
    ],
)
def test_validate_refuses_each_range_at_its_line(write_scenario, law, expected):
    text = BASE + f'[sweep]\nmethod = "random"\nsamples = 3\n"model.layers.0.units" = {law}\n'
    path = write_scenario(text)
    line = path.read_text().splitlines().index(f'"model.layers.0.units" = {law}') + 1
    result = invoke("validate", str(path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f'{path}:{line}: sweep."model.layers.0.units"' in result.output
    assert expected in result.output


def test_the_widest_ranges_within_the_bounds_draw(write_scenario):
    text = BASE + '[sweep]\nmethod = "random"\nsamples = 20\n'
    text += f'"model.layers.0.units" = {{ int_uniform = [{INT64_MIN}, {INT64_MAX}] }}\n'
    text += '"model.layers.0.bias_initializer" = { uniform = [-8e307, 8e307] }\n'
    text += f'"compile.optimizer.learning_rate" = {{ log_uniform = [5e-324, {FLOAT_MAX!r}] }}\n'
    scenario = load_scenario(write_scenario(text))
    assert len(scenario.variants) == 20


# -- --since: the command line and the app's filter box -----------------------------------

NOW = datetime(2026, 11, 21, 12, 0)
AGES = st.one_of(
    st.integers(min_value=0, max_value=999_999),
    st.sampled_from([MAX_AGO.days, MAX_AGO.days + 1, MAX_AGO.days // 7, MAX_AGO.days // 7 + 1]),
)
ZONES = st.one_of(
    st.none(),
    st.sampled_from([timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))]),
    st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60, 23 * 60)),
)
DATES = st.one_of(
    st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
        st.one_of(
            st.datetimes(),
            st.sampled_from(
                [datetime.min, datetime.max, datetime(1, 1, 1, 3), datetime(9999, 12, 31, 20)]
            ),
        ),
        ZONES,
    ),
    st.builds(lambda n, unit: f"{n}{unit}", AGES, st.sampled_from("mhdw")),
    st.text(max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(text=DATES)
def test_since_is_a_moment_in_range_or_a_usage_error(text):
    try:
        moment = parse_since(text, NOW)
    except UsageError as exc:
        assert str(exc).startswith("--since ")
    else:
        assert moment.tzinfo is None
        if re.fullmatch(r"\d+[mhdw]", text.strip()):
            assert NOW - moment <= MAX_AGO
    word = text.strip()
    if word and not any(c.isspace() for c in word):
        try:
            RunQuery.from_text(f"since:{word}")  # the app's filter box: the same parse
        except UsageError as exc:
            assert str(exc).startswith("--since ")
    try:
        query = RunQuery.parse(since=text)
    except UsageError:
        return
    for started in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "nonsense"):
        info = RunInfo(Path("runs/a/b"), "a", "a", started, "finished")
        assert query.matches(info) is False  # a stored start out of range matches no since


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("999999d", "at most 100 years ago (36525d, 5217w)"),
        ("36526d", "at most 100 years ago"),
        ("5218w", "at most 100 years ago"),
        ("0001-01-01T00:00+14:00", "outside 0001-01-01 .. 9999-12-31"),
        ("9999-12-31T23:59-14:00", "outside 0001-01-01 .. 9999-12-31"),
    ],
)
def test_runs_since_past_its_bound_exits_2(runs, since, message):  # noqa: F811
    result = invoke("runs", "--since", since, "--runs-dir", str(runs))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert message in result.output
    assert invoke("runs", "--since", "36525d", "--runs-dir", str(runs)).exit_code == 0


async def test_the_filter_box_shows_a_since_past_its_bound_and_goes_on(runs, tmp_path):  # noqa: F811
    from tuilab.app.app import create_app
    from tuilab.app.widgets.run_library import RunLibrary

    app = create_app(tmp_path / "none", runs)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause(0.1)
        every = len(app.screen.query_one(RunLibrary).shown)
        await pilot.press("slash", *"since:999999d")
        await pilot.pause(0.1)
        note = str(app.screen.query_one("#run-list-note").render())
        assert "--since '999999d': at most 100 years ago" in note
        assert len(app.screen.query_one(RunLibrary).shown) == every  # all shown, and why
        for _ in "999999d":
            await pilot.press("backspace")
        await pilot.press(*"0001-01-01T00:00+14:00")
        await pilot.pause(0.1)
        assert "outside 0001-01-01" in str(app.screen.query_one("#run-list-note").render())
        assert app.is_running


# -- shapes: `validate` and `tuilab data` refuse the same, before allocating ---------------

DIMENSIONS = st.one_of(
    st.integers(min_value=1, max_value=64),
    st.sampled_from([4096, 65_536, MAX_SAMPLE_VALUES, MAX_SAMPLE_VALUES + 1, 2**31, 2**40, 2**63]),
)


@settings(max_examples=300, deadline=None)
@given(
    shape=st.lists(DIMENSIONS, min_size=1, max_size=4),
    samples=st.sampled_from([10, 2000, 1_000_000, 10_000_000]),
    test_samples=st.sampled_from([1, 500, 10_000_000]),
    classes=st.sampled_from([2, 10, 1000]),
)
def test_a_synthetic_shape_is_valid_only_within_its_bounds(shape, samples, test_samples, classes):
    table = {"shape": shape, "samples": samples, "test_samples": test_samples, "classes": classes}
    per_sample = math.prod(shape)
    total = (samples + test_samples + classes) * per_sample
    try:
        config = SyntheticData.model_validate(table)
    except ValidationError:
        assert per_sample > MAX_SAMPLE_VALUES or total > MAX_DATA_VALUES
    else:
        assert config.data_values == total <= MAX_DATA_VALUES


HUGE = BASE.replace(
    'dataset = "digits"',
    'dataset = "synthetic"\nsynthetic = { shape = [10000, 10000, 10, 2], samples = 2000 }',
)


@pytest.mark.parametrize(
    "sets",
    [
        [],
        ["--set", "data.synthetic.shape=[4096, 4096]"],
        ["--set", "data.synthetic={ shape = [8, 8, 1], samples = 10000000 }"],
    ],
)
def test_tuilab_data_refuses_a_huge_shape_as_validate_does(write_scenario, monkeypatch, sets):
    import tuilab.data.sources

    def never(*args, **kwargs):
        raise AssertionError("an array was allocated")

    monkeypatch.setattr(tuilab.data.sources, "make_synthetic", never)
    path = write_scenario(HUGE)
    shown = invoke("data", str(path), *sets)
    assert shown.exit_code == 2, shown.output
    checked = invoke("validate", str(path), *sets)
    assert checked.exit_code == 2, checked.output
    refusal = [line for line in checked.output.splitlines() if "data.synthetic" in line]
    assert refusal and all(line in shown.output for line in refusal)
    assert "at most" in refusal[0] and "Traceback" not in shown.output


# -- names: what a sweep makes, steering takes ---------------------------------------------

LONG_VARIANT = "v" * 64


def long_sweep(key_length: int, values: list[object], repeats: int = 1) -> str:
    """A sweep of several long keys: trial names far past the cap."""
    keys = "".join(
        f'"model.layers.0.{letter * key_length}" = {toml(values)}\n' for letter in "abcdefgh"
    )
    return BASE + f"[run]\nrepeats = {repeats}\n[variants.{LONG_VARIANT}]\n[sweep]\n" + keys


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key_length=st.sampled_from([1, 20, 200, 240, 250, 260, 400]),
    values=st.lists(
        st.one_of(
            st.integers(min_value=-(10**300), max_value=10**300),
            st.sampled_from([10**400, -(10**400), 0.1, 1.7e308]),
            st.text(alphabet="abcxyz_", min_size=1, max_size=40),
        ),
        min_size=1,
        max_size=2,
        unique_by=lambda v: json.dumps([type(v).__name__, v]),
    ),
)
def test_every_sweep_trial_name_is_one_steering_takes(write_scenario, key_length, values):
    repeats = MAX_REPEATS if len(values) == 1 else 3  # 100 or 768 trials: within the cap
    path = write_scenario(long_sweep(key_length, values, repeats))
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        problems_are_located(exc, path, "sweep")
        return
    names = list(scenario.variants)
    assert len(set(names)) == len(names) == len(values) ** 8
    for name in names:
        assert SWEEP_NAME.fullmatch(name) and len(name) <= MAX_SWEEP_NAME
    trials = [trial.name for trial in plan_trials(scenario)]
    assert max(map(len, trials)) <= MAX_TRIAL_NAME
    for trial in trials[:: max(1, len(trials) // 20)]:
        request = ControlRequest(action="stop", trial=trial, sent=datetime.now(), pid=1)
        assert len(request.model_dump_json().encode()) <= MAX_REQUEST_BYTES


def test_names_at_and_past_the_cap_in_the_channel():
    now = datetime.now()
    longest = ControlRequest(
        action="scale_lr",
        factor=1.2345678901234567e-300,
        trial="x" * MAX_TRIAL_NAME,
        sent=now,
        pid=2**62,
    )
    assert len(longest.model_dump_json().encode()) <= MAX_REQUEST_BYTES  # fits a request file
    with pytest.raises(ValidationError):
        ControlRequest(action="stop", trial="x" * (MAX_TRIAL_NAME + 1), sent=now, pid=1)
    result = invoke("stop", "latest", "--trial", "x" * (MAX_TRIAL_NAME + 1))
    assert result.exit_code == 2 and f"1 to {MAX_TRIAL_NAME:,} characters" in result.output


def test_a_cut_name_is_deterministic_and_keeps_the_trials_apart(write_scenario):
    text = long_sweep(260, [1, 2])
    first = list(load_scenario(write_scenario(text)).variants)
    again = list(load_scenario(write_scenario(text, "again.toml")).variants)
    assert first == again and len(set(first)) == 256
    assert all(len(name) == MAX_SWEEP_NAME and "...#" in name for name in first)
    short = list(load_scenario(write_scenario(long_sweep(10, [1, 2]), "short.toml")).variants)
    assert all("...#" not in name for name in short)  # a name that fits is not touched


def test_the_longest_sweep_trial_is_steered_by_tuilab_stop(write_scenario, tmp_path):
    from tuilab.runtime.events import RunStarted
    from tuilab.runtime.store import RunStore

    scenario = load_scenario(write_scenario(long_sweep(260, [1], MAX_REPEATS)))
    trials = [trial.name for trial in plan_trials(scenario)]
    longest = max(trials, key=len)
    assert len(longest) == MAX_TRIAL_NAME  # as long as a trial name can be
    root = tmp_path / "runs"
    store = RunStore.create(root, scenario)
    control = RunControl()
    channel = ControlChannel(store.folder, control)
    try:
        store.handle(
            RunStarted(scenario.name, str(scenario.path), list(scenario.variants), trials, 100)
        )
        assert channel.start()
        run_id = f"{store.folder.parent.name}/{store.folder.name}"
        result = invoke("stop", run_id, "--trial", longest, "--runs-dir", str(root))
        assert result.exit_code == 0, result.output
        assert "has not read it yet" not in result.output and channel.refused == []
        taken = control.take()
        assert [(r.action, r.trial) for r in taken] == [("stop", longest)]
    finally:
        channel.close()
        store.close()


# -- trial counts: a scenario, and a stored run read back for resume -----------------------

COUNTS = st.one_of(
    st.sampled_from([1, MAX_TRIALS - 1, MAX_TRIALS, MAX_TRIALS + 1, 5001]),
    st.integers(min_value=1, max_value=2 * MAX_TRIALS),
)
BODY = {"model": {"layers": [{"type": "Dense", "units": 10}]}}


@settings(max_examples=25, deadline=None)
@given(count=COUNTS, repeats=st.sampled_from([1, 2, MAX_REPEATS]))
def test_a_stored_run_past_the_trial_cap_is_refused_before_it_is_read(count, repeats):
    body = {**BODY, "run": {"repeats": repeats}}
    variants = {f"v{index}": body for index in range(count)}
    document = {"path": "x.toml", "overrides": [], "variants": variants}
    try:
        scenario = scenario_from_resolved(document, Path("resolved.json"))
    except ScenarioError as exc:
        assert count > MAX_VARIANTS or count * repeats > MAX_TRIALS
        assert "at most 1,000" in str(exc) and exc.problems[0].key == "variants"
    else:
        assert count * repeats <= MAX_TRIALS and len(scenario.variants) == count
    meta = {"scenario": "x", "stem": "x", "variants": list(variants), "status": "stopped"}
    try:
        RunMeta.model_validate(meta)
    except ValidationError:
        assert count > MAX_VARIANTS
    else:
        assert count <= MAX_VARIANTS


@pytest.mark.parametrize(("count", "repeats"), [(10, 100), (11, 100), (1000, 1), (501, 2)])
def test_a_scenario_past_the_trial_cap_is_refused_like_a_sweep(write_scenario, count, repeats):
    variants = "".join(f"[variants.v{index}]\n" for index in range(count))
    path = write_scenario(BASE + f"[run]\nrepeats = {repeats}\n" + variants)
    if count * repeats <= MAX_TRIALS:
        assert len(plan_trials(load_scenario(path))) == count * repeats
        return
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert f"trials with their repeats; at most {MAX_TRIALS:,}" in str(caught.value)
    assert caught.value.problems[0].line is not None


def test_a_sweep_record_past_the_trial_cap_is_refused():
    from tuilab.scenario.sweep_record import SweepInfo

    point = {"variant": "a", "values": [1], "labels": ["1"]}
    record = {"method": "grid", "keys": ["fit.epochs"], "short": ["epochs"]}
    SweepInfo.from_document({**record, "trials": {f"a[e={i}]": point for i in range(MAX_TRIALS)}})
    with pytest.raises(ValueError, match="at most 1000"):
        SweepInfo.from_document(
            {**record, "trials": {f"a[e={i}]": point for i in range(MAX_TRIALS + 1)}}
        )


# -- --parallel: the scenario's bound on the command line too ------------------------------


@settings(max_examples=30, deadline=None)
@given(
    parallel=st.one_of(
        st.sampled_from([0, 1, MAX_PARALLEL, MAX_PARALLEL + 1, 10**30]),
        st.integers(min_value=-5, max_value=2 * MAX_PARALLEL),
    )
)
def test_parallel_has_one_bound_on_the_command_line_and_in_the_scenario(tmp_path_factory, parallel):
    root = tmp_path_factory.mktemp("empty")
    result = invoke("resume", "nothing", "--parallel", str(parallel), "--runs-dir", str(root))
    assert result.exit_code == 2 and "Traceback" not in result.output
    on_the_command_line = "Invalid value for '--parallel'" in result.output
    try:
        RunConfig(parallel=parallel)
        in_the_scenario = True
    except ValidationError:
        in_the_scenario = False
    assert on_the_command_line is not in_the_scenario, result.output
    assert in_the_scenario is (1 <= parallel <= MAX_PARALLEL)
