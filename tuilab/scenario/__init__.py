"""Scenario files: TOML -> validated, resolved variants."""

from tuilab.scenario.loader import Scenario, load_scenario

__all__ = ["Scenario", "load_scenario"]
