"""The bridge to the ``runpod`` SDK: ``start`` and ``progress_update`` reach the runtime.

While installed, ``runpod.serverless.start(config)`` registers the handler instead of starting a
worker (which would call ``asyncio.run`` and ``sys.exit`` in the kernel), and
``runpod.serverless.progress_update(job, value)`` updates the running job. ``runpod`` is patched
when it is imported (an import hook, so ``%load_ext`` does not pay the SDK's ~1.4 s import), or at
once if it already was. :meth:`SdkBridge.uninstall` restores every patched attribute.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["SdkBridge"]

_TARGET = "runpod.serverless"
_PROGRESS = "runpod.serverless.modules.rp_progress"


class SdkBridge:
    """Routes the SDK's ``start`` and ``progress_update`` to two callbacks while installed."""

    def __init__(self, on_start: Callable[[Any], None], on_progress: Callable[[Any, Any], None]) -> None:
        self._on_start, self._on_progress = on_start, on_progress
        self._saved: list[tuple[ModuleType, str, Any]] = []
        self._finder = _PatchOnImport(self)
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        self.installed = True
        if _TARGET in sys.modules:
            self._patch()
        else:
            sys.meta_path.insert(0, self._finder)

    def uninstall(self) -> None:
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        for module, attribute, original in reversed(self._saved):
            setattr(module, attribute, original)
        self._saved.clear()
        self.installed = False

    @property
    def patched(self) -> bool:
        return bool(self._saved)

    def _patch(self) -> None:
        if self._saved or not self.installed:
            return
        serverless, progress = sys.modules[_TARGET], sys.modules.get(_PROGRESS)

        def start(config: Any) -> None:
            """rp_jupyter: registers ``config["handler"]`` with the notebook's runtime."""
            if not self.installed:  # a reference kept from before %unload_ext: the SDK's own
                return _sdk_own(serverless, "start", start)(config)
            self._on_start(config)

        def progress_update(job: Any, progress: Any) -> None:
            """rp_jupyter: sends a progress update to the notebook's runtime."""
            if not self.installed:  # a reference kept from before %unload_ext: the SDK's own
                return _sdk_own(progress_module, "progress_update", progress_update)(job, progress)
            self._on_progress(job, progress)

        progress_module = progress if progress is not None else serverless

        self._set(serverless, "start", start)
        self._set(serverless, "progress_update", progress_update)
        if progress is not None:
            self._set(progress, "progress_update", progress_update)
            # The SDK's own progress_update looks this up at call time: references bound before
            # the bridge was installed reach the runtime too.
            self._set(progress, "_thread_target", progress_update)

    def _set(self, module: ModuleType, attribute: str, value: Any) -> None:
        self._saved.append((module, attribute, getattr(module, attribute)))
        setattr(module, attribute, value)


def _sdk_own(module: ModuleType, attribute: str, ours: Callable[..., Any]) -> Callable[..., Any]:
    """The SDK's function, restored on ``module`` by :meth:`SdkBridge.uninstall`."""
    function = getattr(module, attribute)
    if function is ours:
        raise RuntimeError(f"rp_jupyter: {module.__name__}.{attribute} was not restored")
    return function


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches ``runpod.serverless`` right after it is first imported."""

    def __init__(self, bridge: SdkBridge) -> None:
        self._bridge = bridge

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, self._bridge)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, bridge: SdkBridge) -> None:
        self._loader, self._bridge = loader, bridge

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._bridge._patch()
