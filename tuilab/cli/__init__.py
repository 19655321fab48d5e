"""The `tuilab` command line. Parses arguments and hands typed values on; no logic here.

Nothing at import time pulls in TensorFlow or Textual: `tuilab --help` stays fast. Each
module below registers its commands on the one Typer `app`, in the order `--help` lists them.
"""

# isort: off
from tuilab.cli.common import app, main
from tuilab.cli import training  # noqa: F401  (validate, summary, run, attach, resume)
from tuilab.cli import stored  # noqa: F401  (runs, show, compare, report)
from tuilab.cli import plot  # noqa: F401  (plot)
from tuilab.cli import steering  # noqa: F401  (stop, lr, checkpoint)
from tuilab.cli import library  # noqa: F401  (tag, note, delete, restore, purge)
from tuilab.cli import sweeps  # noqa: F401  (sweep)
from tuilab.cli import serve  # noqa: F401  (serve)
from tuilab.cli import data  # noqa: F401  (data)
# isort: on

__all__ = ["app", "main"]
