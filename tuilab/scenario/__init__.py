"""Scenario files: TOML -> validated, resolved variants.

`Scenario` and `load_scenario` are loaded on first use, so that a light module of this package
(`bounds`, which the command line and the steering channel import) costs no schema import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuilab.scenario.loader import Scenario, load_scenario

__all__ = ["Scenario", "load_scenario"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tuilab.scenario import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'tuilab.scenario' has no attribute {name!r}")
