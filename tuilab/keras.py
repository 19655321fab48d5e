"""Use tuilab from your own Keras script: record a fit as a tuilab run.

    from tuilab.keras import TuilabCallback

    recorder = TuilabCallback("my-exp", runs_dir="runs")
    model.fit(x, y, validation_data=(x_val, y_val), epochs=20, callbacks=[recorder])
    model.evaluate(x_test, y_test, callbacks=[recorder])  # the run's test metrics

`tuilab runs`, `show`, `compare`, `report`, `attach` and the app read the run, live or after;
`tuilab stop RUN` and `tuilab lr RUN --scale 0.5` steer it from another shell. Importing this
module does not import TensorFlow; naming `TuilabCallback` does (the script's Keras settings,
such as its progress bars, are kept).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuilab.runtime.script_callback import _TuilabCallback as TuilabCallback

__all__ = ["TuilabCallback"]


def __getattr__(name: str) -> Any:
    if name == "TuilabCallback":
        from tuilab.runtime.script_callback import callback_class

        return callback_class()
    raise AttributeError(f"module 'tuilab.keras' has no attribute {name!r}")
