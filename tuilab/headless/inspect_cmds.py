"""`tuilab validate` and `tuilab summary`: check and describe scenarios without training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from tuilab.errors import TuilabError
from tuilab.headless.fold import fold_line, heading, line_width
from tuilab.presentation.text import clean, plain

if TYPE_CHECKING:
    from tuilab.scenario.loader import Scenario


def scenario_files(paths: list[Path]) -> list[Path]:
    """Expand folders to the `*.toml` files in them (sorted); files stay as given."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
    return files


def validate(paths: list[Path], overrides: list[str], out: Console, err: Console) -> int:
    """Load and build every variant of every file; 0 if all are valid, 2 otherwise."""
    from tuilab.runtime.validation import check_scenario
    from tuilab.scenario import load_scenario

    failed = 0
    files = scenario_files(paths)
    if not files:
        err.print("no scenario files found", style="red", highlight=False)
        return 2
    for path in files:
        try:
            scenario = load_scenario(path, overrides)
            quiet_keras(scenario)
            check_scenario(scenario)
        except TuilabError as exc:
            failed += 1
            err.print(plain(str(exc), "red", multiline=True), highlight=False, soft_wrap=True)
            continue
        line = Text.assemble(("ok", "green"), plain(f" {path}: {_contents(scenario)}"))
        out.print(line, highlight=False)
    return 2 if failed else 0


def quiet_keras(scenario: Scenario) -> None:
    """Import Keras quietly first when checking `scenario` needs it (a model to build, a
    Keras optimizer to look up): its plain import would print TensorFlow's start-up lines."""
    from tuilab.backend import import_keras_quietly
    from tuilab.runtime.backends import scenario_backend

    descent = scenario.kind == "descent"
    if descent and all(v.descent.optimizer == "gd" for v in scenario.variants.values()):
        return  # plain descent is checked without Keras
    import_keras_quietly(scenario_backend(scenario))


def _contents(scenario: Scenario) -> str:
    """`2 variant(s): a, b`, or for a sweep `8 variant(s): a grid sweep of lr, batch over a, b`."""
    count = f"{len(scenario.variants)} variant(s)"
    if scenario.sweep is None:
        return f"{count}: {', '.join(scenario.variants)}"
    bases = dict.fromkeys(point.variant for point in scenario.sweep.trials.values())
    sweep = scenario.sweep
    return f"{count}: a {sweep.method} sweep of {', '.join(sweep.short)} over {', '.join(bases)}"


def summary(path: Path, variants: list[str], overrides: list[str], out: Console) -> int:
    """Print the Keras-style layer table of each (selected) variant."""
    from tuilab.headless.tables import summary_table
    from tuilab.model.summary import batchnorm_state, summarize
    from tuilab.runtime.validation import check_scenario
    from tuilab.scenario import load_scenario

    scenario = load_scenario(path, overrides).select(variants)
    quiet_keras(scenario)
    models = check_scenario(scenario)
    out.print(heading(scenario.name, f" ({path})", line_width(out)), highlight=False)
    for name, model in models.items():
        out.print(summary_table(summarize(model), title=f"variant {name}", width=out.width))
        bn = batchnorm_state(model)
        if bn:
            text = f"  BatchNormalization layers: {', '.join(bn)}"
            out.print(plain(fold_line(clean(text), line_width(out))), highlight=False)
    return 0
