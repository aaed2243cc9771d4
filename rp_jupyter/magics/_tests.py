"""``%rp_tests add|run|list|remove NAME ...``: jobs kept as regression tests, replayed on demand.

``add NAME [JOB_ID ...] [--as TEST]`` keeps jobs (default: the handler's last successful one) in
``runpod-tests/NAME.json`` next to the notebook; ``run NAME`` replays them against the handler
registered now and shows pass / changed (with a diff) / failed, live in a kernel, then as a table;
``list NAME``; ``remove NAME TEST ...``. ``%%rp_handler NAME --retest`` runs them after each edit.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Unicode, observe

from .. import _testing
from ..exceptions import UsageProblem
from ..widgets import TestsView
from ._args import parse_flags
from ._show import has_widgets

__all__ = ["TestsMagics", "retest"]


@magics_class
class TestsMagics(Magics):
    """Keep jobs as tests and replay them. Settings work with ``%config TestsMagics.tests_dir = ...``."""

    tests_dir = Unicode(
        _testing.DEFAULT_DIRECTORY, config=True,
        help="Folder of each handler's kept tests (NAME.json), relative to the kernel's working directory "
             "(the notebook's folder). Export --hub and --verify read the tests there too.",
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        _testing.set_directory(self.tests_dir)

    @observe("tests_dir")
    def _tests_dir_changed(self, change: Any) -> None:
        _testing.set_directory(change["new"])

    @magic_arguments()
    @argument("action", choices=["add", "run", "list", "remove"], help="what to do with the tests")
    @argument("name", help="the handler")
    @argument("items", nargs="*", metavar="JOB_ID|TEST", help="add: job ids (default: the last successful job); "
              "remove: test names")
    @argument("--as", dest="test_name", metavar="TEST", help="add: the test's name (one job)")
    @line_magic
    def rp_tests(self, line: str) -> Any:
        """%rp_tests add NAME [JOB_ID ...] [--as TEST] | run NAME | list NAME | remove NAME TEST ..."""
        args = parse_flags(self.rp_tests, line)
        if args.test_name is not None and args.action != "add":
            raise UsageError("--as goes with %rp_tests add")
        try:
            if args.action == "add":
                return _testing.keep(args.name, args.items, directory=self.tests_dir, test_name=args.test_name)
            if args.items and args.action in ("run", "list"):
                raise UsageError(f"%rp_tests {args.action} takes only the handler's name")
            if args.action == "run":
                return run_shown(self.shell, args.name, self.tests_dir, leave_table=False)
            if args.action == "list":
                return _testing.describe(args.name, self.tests_dir)
            if not args.items:
                raise UsageError(f"name the tests to remove: %rp_tests remove {args.name} TEST ...")
            removed = _testing.forget(args.name, args.items, self.tests_dir)
            print(f"removed {', '.join(map(repr, removed))} from {_testing.tests_file(args.name, self.tests_dir)}")
            return None
        except UsageProblem as exc:
            raise UsageError(str(exc)) from None


def run_shown(shell: Any, name: str, directory: str | None, leave_table: bool) -> Any:
    """Replay the tests, live in a kernel with widgets. ``leave_table``: the finished table stays where
    the live view was (``--retest``), else the view goes and the returned table is the cell's output."""
    if not has_widgets(shell):
        table = _testing.run_tests(name, directory=directory)
        if leave_table:
            print(repr(table))
        return table
    view = TestsView(f"replaying the kept tests of {name!r}…").show()
    table = None
    try:
        table = _testing.run_tests(name, directory=directory, on_change=view.update)
    finally:
        view.finish(table if leave_table else None)
    return table


def retest(shell: Any, name: str) -> None:
    """``%%rp_handler NAME --retest``: replay the handler's kept tests after registering it."""
    try:
        if not _testing.kept_tests(name):
            print(f"rp_jupyter: no kept tests for {name!r} to replay ({_testing.tests_file(name)}): "
                  f"keep jobs with %rp_tests add {name}")
            return
        run_shown(shell, name, None, leave_table=True)
    except UsageProblem as exc:
        raise UsageError(str(exc)) from None
