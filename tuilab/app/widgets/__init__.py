"""Dashboard widgets; each redraws itself from a `RunState`."""
