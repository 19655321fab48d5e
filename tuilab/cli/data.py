"""`tuilab data SCENARIO`: what the model will see, before and after preprocessing."""

from __future__ import annotations

from typing import Annotated

import typer

from tuilab.cli.common import (
    ScenarioArgument,
    SetOption,
    VariantOption,
    app,
    err,
    exit_with,
    out,
)


@app.command("data")
def data_command(
    scenario: ScenarioArgument,
    variant: VariantOption = None,
    set_: SetOption = None,
    samples: Annotated[
        int, typer.Option("--samples", min=0, max=4, help="Samples drawn per class (0: none).")
    ] = 1,
    no_color: Annotated[
        bool,
        typer.Option("--no-color", help="ASCII shading instead of pixels (also NO_COLOR, pipes)."),
    ] = False,
) -> None:
    """Shapes, value ranges before/after preprocessing, class balance and samples per class."""
    from tuilab.headless.data_cmd import data_command as show

    exit_with(
        lambda: show(
            scenario, variant or [], set_ or [], out, err, no_color=no_color, per_class=samples
        )
    )
