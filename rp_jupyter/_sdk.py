"""The bridge to the ``runpod`` SDK: ``start``, ``progress_update`` and prestart hooks reach the runtime.

While installed, ``runpod.serverless.start(config)`` registers the handler instead of starting a
worker (which would call ``asyncio.run`` and ``sys.exit`` in the kernel),
``runpod.serverless.progress_update(job, value)`` updates the running job, and (runpod 2.x)
``runpod.serverless.register_prestart_hook(hook)`` hands the hook to rp_jupyter, which attaches it to
the handler registered next, and returns it unchanged (it works as a decorator); the SDK's own registry
is left alone. ``runpod`` is patched
when it is imported (an import hook, so ``%load_ext`` does not pay the SDK's ~1.4 s import), or at
once if it already was. :meth:`SdkBridge.uninstall` restores every patched attribute.

Two more things a deployed worker gets from the SDK are kept here: after every job the SDK clears
``rp_debugger``'s checkpoints (:meth:`SdkBridge.after_job` does the same, so ``@FunctionTimer`` and
``LineTimer`` work over many jobs), and ``import runpod`` (1.12) configures the root logger at INFO with
a handler of its own, which would print every library's INFO lines in the notebook's cells: while
the bridge is installed, that change is held back (and given back on uninstall).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["SdkBridge"]

_TARGET = "runpod.serverless"
_PROGRESS = "runpod.serverless.modules.rp_progress"
_PRESTART = "runpod.serverless.modules.rp_prestart"
_DEBUGGER = "runpod.serverless.utils.rp_debugger"
_UPLOAD = "runpod.serverless.utils.rp_upload"


class SdkBridge:
    """Routes the SDK's ``start``, ``progress_update`` and ``register_prestart_hook`` to callbacks while installed."""

    def __init__(self, on_start: Callable[[Any], None], on_progress: Callable[[Any, Any], None],
                 on_prestart_hook: Callable[[Any], None] | None = None) -> None:
        self._on_start, self._on_progress = on_start, on_progress
        self._on_prestart_hook = on_prestart_hook
        self._saved: list[tuple[ModuleType, str, Any]] = []
        self._finder = _PatchOnImport(self)
        self.logging = _RootLoggingGuard()
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        self.installed = True
        if _TARGET in sys.modules:
            self._patch()
            self.logging.hold_back_imported()
        else:
            sys.meta_path.insert(0, self._finder)

    def uninstall(self) -> None:
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        for module, attribute, original in reversed(self._saved):
            setattr(module, attribute, original)
        self._saved.clear()
        self.logging.give_back()
        self.installed = False

    @staticmethod
    def after_job() -> None:
        """What the SDK's worker does after each job (``rp_job.handle_job``): clear the debugger's checkpoints."""
        debugger = sys.modules.get(_DEBUGGER)
        clear = getattr(debugger, "clear_debugger_output", None)
        if clear is not None:
            clear()

    @property
    def patched(self) -> bool:
        return bool(self._saved)

    @staticmethod
    def has_prestart_hooks() -> bool:
        """Whether the installed SDK has prestart hooks (runpod 2.x): asked of the imported SDK, else its version."""
        serverless = sys.modules.get(_TARGET)
        if serverless is not None:
            return hasattr(serverless, "register_prestart_hook")
        try:
            major = importlib.metadata.version("runpod").split(".")[0]
        except importlib.metadata.PackageNotFoundError:
            return False
        return major.isdigit() and int(major) >= 2

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

        self._patch_prestart(serverless)
        self._set(serverless, "start", start)
        self._set(serverless, "progress_update", progress_update)
        if progress is not None:
            self._set(progress, "progress_update", progress_update)
            # The SDK's own progress_update looks this up at call time: references bound before
            # the bridge was installed reach the runtime too.
            self._set(progress, "_thread_target", progress_update)

    def _patch_prestart(self, serverless: ModuleType) -> None:
        """runpod 2.x: ``register_prestart_hook`` (both names the SDK offers) hands hooks to rp_jupyter."""
        on_hook = self._on_prestart_hook
        if on_hook is None or not hasattr(serverless, "register_prestart_hook"):
            return
        owner = sys.modules.get(_PRESTART, serverless)

        def register_prestart_hook(hook: Any) -> Any:
            """rp_jupyter: keeps ``hook`` for the handler registered next (a %%rp_handler cell's own hooks
            belong to that cell's handler); returns it unchanged, so it also works as a decorator."""
            if not self.installed:  # a reference kept from before %unload_ext: the SDK's own
                return _sdk_own(owner, "register_prestart_hook", register_prestart_hook)(hook)
            on_hook(hook)
            return hook

        self._set(serverless, "register_prestart_hook", register_prestart_hook)
        if owner is not serverless:
            self._set(owner, "register_prestart_hook", register_prestart_hook)

    def _set(self, module: ModuleType, attribute: str, value: Any) -> None:
        self._saved.append((module, attribute, getattr(module, attribute)))
        setattr(module, attribute, value)


def _sdk_own(module: ModuleType, attribute: str, ours: Callable[..., Any]) -> Callable[..., Any]:
    """The SDK's function, restored on ``module`` by :meth:`SdkBridge.uninstall`."""
    function = getattr(module, attribute)
    if function is ours:
        raise RuntimeError(f"rp_jupyter: {module.__name__}.{attribute} was not restored")
    return function


class _RootLoggingGuard:
    """Holds back what importing the SDK does to the root logger (level and handlers) until given back."""

    def __init__(self) -> None:
        self._held: tuple[int, list[logging.Handler]] | None = None

    def around_import(self, run: Callable[[], None]) -> None:
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            run()
        finally:
            added = [handler for handler in root.handlers if handler not in handlers]
            if (added or root.level != level) and self._held is None:
                self._held = (root.level, added)
                for handler in added:
                    root.removeHandler(handler)
                root.setLevel(level)

    def hold_back_imported(self) -> None:
        """The SDK was imported before rp_jupyter: hold back the handler its ``rp_upload`` added."""
        fmt = getattr(sys.modules.get(_UPLOAD), "FMT", None)
        root = logging.getLogger()
        ours = [h for h in root.handlers if fmt and h.formatter is not None and h.formatter._fmt == fmt]
        if ours and self._held is None:
            self._held = (root.level, ours)
            for handler in ours:
                root.removeHandler(handler)
            if root.level == logging.INFO:
                root.setLevel(logging.WARNING)

    def give_back(self) -> None:
        if self._held is None:
            return
        level, handlers = self._held
        self._held = None
        root = logging.getLogger()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches ``runpod.serverless`` right after it is first imported (``runpod`` itself: the logging guard)."""

    def __init__(self, bridge: SdkBridge) -> None:
        self._bridge = bridge

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in (_TARGET, "runpod"):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, self._bridge, patch=fullname == _TARGET)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, bridge: SdkBridge, patch: bool) -> None:
        self._loader, self._bridge, self._patch = loader, bridge, patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._bridge.logging.around_import(lambda: self._loader.exec_module(module))
        if self._patch:
            self._bridge._patch()
