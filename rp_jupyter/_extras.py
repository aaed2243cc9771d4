"""Optional packages: imported when a feature needs them, else one line saying what to install.

The kernel side depends only on what the magics, the runtime, the views and ``%rp_serve`` need
(docs/install.md). Anything else is an extra of ``rp-jupyter`` (or a package of the user's own),
imported at the moment a feature asks for it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingDependencyError

__all__ = ["EXTRAS", "install_hint", "require"]

EXTRAS = {"matplotlib": "plots", "jupyterlab": "lab", "notebook": "notebook"}
"""Top-level module -> the extra of rp-jupyter that installs it."""

_DISTRIBUTIONS = {"matplotlib": "matplotlib", "jupyterlab": "jupyterlab", "notebook": "notebook", "pandas": "pandas"}


def install_hint(module: str) -> str:
    """``pip install 'rp-jupyter[plots]'`` for a module of an extra; ``pip install pandas`` otherwise."""
    extra = EXTRAS.get(module)
    if extra is not None:
        return f"pip install 'rp-jupyter[{extra}]'"
    return f"pip install {_DISTRIBUTIONS.get(module, module)}"


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``; :class:`MissingDependencyError` (one line) when it is missing.

    Only the module itself missing is translated: an ImportError raised *inside* an installed
    package (a broken install) propagates as it is, since no install hint would fix it.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise MissingDependencyError(
            f"{feature} needs {_DISTRIBUTIONS.get(module, module)}, which is not installed: {install_hint(module)}"
        ) from None
