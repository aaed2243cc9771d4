"""IPython glue: argument parsing → session → display. The only place that imports IPython."""

from ._magics import RunPodMagics, load, unload

__all__ = ["RunPodMagics", "load", "unload"]
