"""Headless output: Rich rendering of events and stored runs. Never imports Textual."""
