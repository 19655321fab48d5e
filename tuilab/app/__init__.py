"""The Textual app: scenario picker, live dashboard, stored runs and comparisons."""
