"""`python -m tuilab` entry point."""

from tuilab.cli import main

main()
