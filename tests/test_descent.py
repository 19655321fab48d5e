"""The optimizer playground: exact update rules, validation, headless output and the screen."""

from __future__ import annotations

import math
import shutil
import time

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.descent.run import run_descent
from tuilab.errors import ScenarioError
from tuilab.runtime.validation import check_scenario
from tuilab.scenario import load_scenario
from tuilab.scenario.descent import DescentConfig

SCENARIO = ROOT / "scenarios" / "descent_xsin.toml"
NOTEBOOK_SETTINGS = [
    (1.5, 0.01, 10),
    (1.5, 0.01, 100),
    (1.5, 0.001, 100),
    (-2.0, 0.01, 100),
    (-2.0, 0.01, 1000),
]


def grad(x: float) -> float:
    """dJ/dx of J(x) = x·sin(x²), by hand, for the independent reference."""
    return math.sin(x * x) + 2 * x * x * math.cos(x * x)


@pytest.mark.parametrize(("start", "rate", "iterations"), NOTEBOOK_SETTINGS)
def test_plain_descent_follows_the_notebook_update_rule(start, rate, iterations):
    x = start
    expected = [x]
    for _ in range(iterations):
        x = x - rate * grad(x)
        expected.append(x)
    path = run_descent(DescentConfig(start=start, learning_rate=rate, iterations=iterations))
    assert [p[0] for p in path.points] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert path.values[-1] == pytest.approx(x * math.sin(x * x), rel=1e-12)


def test_the_shipped_scenario_holds_the_five_notebook_settings():
    scenario = load_scenario(SCENARIO)
    settings = {
        (v.descent.start_point[0], v.descent.learning_rate, v.descent.iterations)
        for v in scenario.variants.values()
        if v.descent.optimizer == "gd"
    }
    assert settings == set(NOTEBOOK_SETTINGS)


def reference(optimizer: str, steps: int, rate: float, start: float = -2.0) -> list[float]:
    """Keras's documented update rules, by hand."""
    x, velocity, m, v, accumulator = start, 0.0, 0.0, 0.0, 0.1
    xs = [x]
    for t in range(1, steps + 1):
        g = grad(x)
        if optimizer == "momentum":
            velocity = 0.9 * velocity - rate * g
            x += velocity
        elif optimizer == "nesterov":
            velocity = 0.9 * velocity - rate * g
            x += 0.9 * velocity - rate * g
        elif optimizer == "adam":
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            alpha = rate * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            x -= alpha * m / (math.sqrt(v) + 1e-7)
        elif optimizer == "rmsprop":
            v = 0.9 * v + 0.1 * g * g
            x -= rate * g / (math.sqrt(v) + 1e-7)
        elif optimizer == "adagrad":
            accumulator += g * g
            x -= rate * g / math.sqrt(accumulator + 1e-7)
        xs.append(x)
    return xs


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("momentum", {"type": "SGD", "momentum": 0.9}),
        ("nesterov", {"type": "SGD", "momentum": 0.9, "nesterov": True}),
        ("adam", "adam"),
        ("rmsprop", "rmsprop"),
        ("adagrad", "adagrad"),
    ],
)
def test_keras_optimizers_follow_their_documented_rules(name, spec):
    path = run_descent(DescentConfig(start=-2.0, learning_rate=0.01, iterations=5, optimizer=spec))
    assert [p[0] for p in path.points] == pytest.approx(reference(name, 5, 0.01), rel=1e-6)


def test_two_dimensional_rosenbrock_moves_downhill():
    config = DescentConfig(
        function="rosenbrock",
        start=[-1.0, 1.0],
        learning_rate=0.02,
        iterations=1000,
        optimizer="adam",
        x_range=[-2.0, 2.0],
    )
    path = run_descent(config)
    assert len(path.final) == 2 and path.values[-1] < path.values[0] / 10


def test_divergence_is_reported_not_raised():
    path = run_descent(
        DescentConfig(function="quadratic", start=3.0, learning_rate=1e6, iterations=2000)
    )
    assert path.diverged_at is not None and path.diverged_at < 2000


def test_bad_playground_scenarios_give_clear_errors(write_scenario):
    text = '[descent]\nfunction = "rosenbrock"\nstart = 1.0\n'
    with pytest.raises(ScenarioError, match="rosenbrock takes a start of 2 number"):
        load_scenario(write_scenario(text))
    text = '[descent]\noptimizer = "adamm"\n'
    with pytest.raises(ScenarioError, match=r"descent.optimizer: unknown Keras optimizer 'adamm'"):
        check_scenario(load_scenario(write_scenario(text)))
    text = '[descent]\nfunction = "exp(x)"\n'
    with pytest.raises(ScenarioError, match=r"descent\.function: should be 'xsin'"):
        load_scenario(write_scenario(text))


def test_headless_prints_the_table_and_the_picture():
    result = CliRunner().invoke(
        app, ["run", str(SCENARIO), "--headless", "-v", "gd_100", "-v", "gd_m2_1000"]
    )
    assert result.exit_code == 0, result.output
    assert "2.194503" in result.output and "J(x) = x·sin(x²)" in result.output
    assert "gd_m2_1000" in result.output and "┌" in result.output


async def test_playground_screen_keys_change_settings_and_replay(tmp_path):
    from textual.widgets import DataTable

    from tuilab.app.app import create_app
    from tuilab.app.screens.playground import FRAMES, PlaygroundScreen

    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(SCENARIO, scenarios / "descent_xsin.toml")
    app_ = create_app(scenarios, tmp_path / "runs")

    async def settle(pilot, screen, generation):
        deadline = time.monotonic() + 60
        while not (
            screen.generation == generation
            and screen.paths
            and screen.frame >= FRAMES
            and screen.paths_generation == generation
        ):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)

    async with app_.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        screen = app_.screen
        assert isinstance(screen, PlaygroundScreen)
        await settle(pilot, screen, 1)
        assert screen.paths["gd_100"].final[0] == pytest.approx(2.1945027495644505)
        await pilot.press("down")  # gd_100
        others = {n: p for n, p in screen.paths.items() if n != "gd_100"}
        await pilot.press("minus")
        await pilot.pause()
        table = screen.query_one(DataTable)  # the key's own cell at once, not after the path
        assert str(table.get_cell("gd_100", "lr")) == "0.005"
        await settle(pilot, screen, 2)
        assert all(screen.paths[n] is p for n, p in others.items())  # only gd_100 recomputed
        assert screen.configs["gd_100"].learning_rate == pytest.approx(0.005)
        await pilot.press("right_square_bracket")
        await settle(pilot, screen, 3)
        assert screen.configs["gd_100"].iterations == 200
        assert len(screen.paths["gd_100"].points) == 201
        await pilot.press("left")
        await settle(pilot, screen, 4)
        assert screen.configs["gd_100"].start_point == [1.4]
        assert screen.paths["gd_100"].points[0] == [1.4]
        drawn: list[int | None] = []
        original = screen._draw
        screen._draw = lambda upto: (drawn.append(upto), original(upto))
        await pilot.press("space")
        await settle(pilot, screen, 4)
        longest = max(len(path.points) - 1 for path in screen.paths.values())
        assert drawn[0] == max(1, round(longest / FRAMES))  # replayed from the first frame
        assert drawn == sorted(drawn) and drawn[-1] == longest
        await pilot.press("escape")
