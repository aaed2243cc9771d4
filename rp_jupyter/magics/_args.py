"""A magic's flags read as a shell reads them: ``--out "my dir"`` is ``my dir``, without the quotes.

IPython's ``parse_argstring`` splits in non-POSIX mode and keeps quotes in the values, so a quoted
path or image became a name with quote characters in it (and the sidebar's export, which quotes
with ``shlex.join``, wrote to a directory named ``'my dir'``).
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

__all__ = ["parse_flags"]


def parse_flags(magic: Callable[..., Any], line: str) -> argparse.Namespace:
    """``magic``'s ``@magic_arguments`` parsed from ``line``; every problem is one ``UsageError`` line."""
    try:
        argv = shlex.split(line, posix=os.name != "nt")  # Windows paths keep their backslashes
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"cannot read the arguments {line.strip()!r}: {exc}") from None
    try:  # the parser's own errors are UsageErrors already
        namespace: argparse.Namespace = magic.parser.parse_args(argv)  # type: ignore[attr-defined]
    except (SystemExit, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return namespace
