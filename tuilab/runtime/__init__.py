"""Training runtime: runs variants in a thread and speaks only through events."""
