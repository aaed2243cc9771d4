"""``%rp_export NAME [--out DIR] [--base-image IMAGE] [--verify] [--force] [--hub] [--check DIR]`` and the
kernel's cells.

The executed cells come from the kernel's history, turned into plain Python here (the exporter
never sees IPython): a ``%%rp_handler`` (or ``%%time``-like) cell contributes its body, other cell
magics nothing, and line magics and ``!`` commands become ``get_ipython()`` calls the exporter reads
(``!pip install x`` → a requirement) and leaves out.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.inputtransformer2 import TransformerManager
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .. import session
from .._hubbing import CATEGORIES
from ..exceptions import UsageProblem
from ._args import parse_flags

if TYPE_CHECKING:
    from ..exporter import Cell

__all__ = ["ExportMagics", "history_cells", "plain_python"]

# Cell magics whose body is Python that ran in the user's namespace.
PYTHON_BODY_MAGICS = frozenset({"rp_handler", "time", "capture", "prun"})


def plain_python(raw: str) -> str | None:
    """A cell's raw text as plain Python; None for a cell magic whose body is not Python."""
    first, _, body = raw.partition("\n")
    if first.lstrip().startswith("%%"):
        magic = first.lstrip()[2:].split(maxsplit=1)[0] if first.strip() != "%%" else ""
        if magic not in PYTHON_BODY_MAGICS:
            return None
        raw = body
    return TransformerManager().transform_cell(raw)


def history_cells(shell: Any) -> list[Cell]:
    """This session's executed cells, in order, labelled ``In[N]``."""
    from ..exporter import Cell  # here: %load_ext does not import the exporter

    cells = []
    for number, raw in enumerate(shell.history_manager.input_hist_raw):
        source = plain_python(raw) if raw.strip() else None
        if source is not None:
            cells.append(Cell(f"In[{number}]", source))
    return cells


def notebook_name(shell: Any) -> str | None:
    """The notebook's file name where the front end says it (JupyterLab, VS Code)."""
    path = os.environ.get("JPY_SESSION_NAME") or shell.user_ns.get("__vsc_ipynb_file__")
    return os.path.basename(str(path)) if path else None


@magics_class
class ExportMagics(Magics):
    """``%rp_export``: a registered handler as a RunPod worker repository, verified on request."""

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        session.set_cell_source(lambda: (history_cells(self.shell), notebook_name(self.shell)))

    @magic_arguments()
    @argument("name", help="the registered handler to export")
    @argument("--out", metavar="DIR", help="where to write the worker (default: NAME-worker)")
    @argument("--base-image", metavar="IMAGE", help="a pinned base image instead of the detected one")
    @argument("--verify", action="store_true", help="run the export under the real runpod SDK and compare")
    @argument("--force", action="store_true",
              help="replace files export did not write, or edited by hand (each kept as NAME.bak)")
    @argument("--check", metavar="DIR", help="report how DIR differs from what export would write now")
    @argument("--hub", action="store_true", help="also write the RunPod Hub's .runpod/hub.json and tests.json")
    @argument("--category", choices=CATEGORIES, help="the Hub listing's category (default: guessed from imports)")
    @line_magic
    def rp_export(self, line: str) -> Any:
        """%rp_export NAME [--out DIR] [--base-image IMAGE] [--verify] [--force] [--hub [--category C]] [--check DIR]"""
        args = parse_flags(self.rp_export, line)
        try:
            if args.check:
                return _check(args.name, args.check, args.base_image)
            return session.export(args.name, args.out, base_image=args.base_image, verify=args.verify,
                                  force=args.force, **_hub_options(args))
        except UsageProblem as exc:
            raise UsageError(str(exc)) from None


def _hub_options(args: Any) -> dict[str, Any]:
    """``--hub [--category C]`` (issue 14); ``--category`` alone implies ``--hub``."""
    if not args.hub and args.category is None:
        return {}
    return {"hub": True, "category": args.category}


def _check(name: str, directory: str, base_image: str | None) -> Any:
    found = session.check_export(name, directory, base_image=base_image)
    if not found.ok:
        print(repr(found))
        raise UsageError(f"{directory} has drifted from the notebook: {', '.join(sorted(found.changed))} (diff above)")
    return found


def unload_export() -> None:
    """Forget the kernel's history as the source of cells (``%unload_ext``)."""
    session.set_cell_source(None)
