"""handler.py: the statements the handler needs, in execution order, then ``runpod.serverless.start``.

Prestart hooks (runpod 2.x) are roots too: each hook's ``def`` and what it needs are kept, and one
``runpod.serverless.register_prestart_hook(name)`` line per hook, in registration order, comes just
before ``start`` (a ``def`` decorated with ``register_prestart_hook`` registers itself where it stands).
"""

from __future__ import annotations

import ast

from ..exceptions import ExportError
from ._cells import Statement
from ._model import HandlerConfig, module_exports
from ._slice import Slicer

__all__ = ["find_function", "render_handler", "select_statements"]


def find_function(statements: list[Statement], name: str, source: str | None, what: str) -> Statement:
    """The executed ``def name`` matching ``source`` (the registered one), else the latest ``def``."""
    defs = [s for s in statements if isinstance(s.node, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.node.name == name]
    if not defs:
        raise ExportError(f"the {what} {name!r} is not defined by a def in any executed cell of this kernel")
    if source is None:
        return defs[-1]
    wanted = _shape(source)
    same = [s for s in defs if _shape(s.text) == wanted]
    if not same:
        raise ExportError(
            f"the registered {what} {name!r} matches no executed cell (its cell was edited, or it came "
            "from a file): re-run the cell that defines it, then export"
        )
    return same[-1]


def _shape(source: str) -> str | None:
    """The function's AST without decorators: the same code compares equal wherever it came from."""
    import textwrap

    try:
        node = ast.parse(textwrap.dedent(source)).body[0]
    except (SyntaxError, IndexError):
        return None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node.decorator_list = []
    return ast.dump(node)


def select_statements(statements: list[Statement], config: HandlerConfig) -> tuple[list[Statement], bool]:
    """The needed statements in execution order, and whether ``import runpod`` must be added."""
    roots = [find_function(statements, config.function, config.source, "handler")]
    if config.concurrency_modifier is not None:
        roots.append(find_function(
            statements, config.concurrency_modifier, config.concurrency_modifier_source, "concurrency_modifier"
        ))
    roots += [find_function(statements, name, source, "prestart hook") for name, source in config.prestart_hooks]
    # the start call's `import runpod`: the handler cell's own, else added by export (never another cell's)
    own = [s for s in statements if s.cell == roots[0].cell and s.imports.get("runpod") == ("import", "runpod")]
    slicer = Slicer(statements, module_exports)
    chosen = slicer.select(roots + own[-1:], set())
    return chosen, not any("runpod" in s.defines for s in chosen)


def render_handler(
    config: HandlerConfig, chosen: list[Statement], add_runpod: bool, header: list[str]
) -> str:
    parts = [*(f"# {line}" for line in header), ""]
    if add_runpod:
        parts += ["import runpod", ""]
    parts.append(_body(chosen))
    modifier = config.concurrency_modifier
    if config.fixed_concurrency is not None:
        defined = set().union(*(s.defines for s in chosen)) if chosen else set()
        modifier = "rp_concurrency_modifier" if "concurrency_modifier" in defined else "concurrency_modifier"
        parts += ["", "", f"def {modifier}(current_concurrency):",
                  f"    return {config.fixed_concurrency}  # %%rp_handler --concurrency {config.fixed_concurrency}"]
    registrations = _hook_registrations(config, chosen)
    parts += ["", "", *registrations, *([""] if registrations else []), _start_call(config, modifier)]
    text = "\n".join(parts).rstrip() + "\n"
    _check_compiles(text, config.name)
    return text


def _body(chosen: list[Statement]) -> str:
    out: list[str] = []
    previous: Statement | None = None
    for statement in chosen:
        if previous is None or previous.cell != statement.cell:
            out += (["", ""] if out else []) + [f"# {statement.label}"]
        elif statement.position == previous.position + 1:
            out += [""] * min(2, max(0, statement.first_line - previous.last_line - 1))
        else:
            out += [""] * (2 if statement.is_definition or previous.is_definition else 1)
        out.append(statement.text.rstrip())
        previous = statement
    return "\n".join(out)


def _hook_registrations(config: HandlerConfig, chosen: list[Statement]) -> list[str]:
    """``register_prestart_hook(name)`` for each hook whose ``def`` does not register itself."""
    decorated = {
        statement.node.name for statement in chosen
        if isinstance(statement.node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any("register_prestart_hook" in ast.unparse(d) for d in statement.node.decorator_list)
    }
    return [f"runpod.serverless.register_prestart_hook({name})" for name, _ in config.prestart_hooks
            if name not in decorated]


def _start_call(config: HandlerConfig, modifier: str | None) -> str:
    items = [f'"handler": {config.function}']
    if config.return_aggregate_stream:
        items.append('"return_aggregate_stream": True')
    if modifier is not None:
        items.append(f'"concurrency_modifier": {modifier}')
    if config.refresh_worker:
        items.append('"refresh_worker": True')
    if config.prestart_hooks and config.prestart_timeout is not None:
        items.append(f'"prestart_timeout": {config.prestart_timeout!r}')
    one_line = "runpod.serverless.start({" + ", ".join(items) + "})"
    if len(one_line) <= 100:
        return one_line
    return "runpod.serverless.start(\n    {\n" + "".join(f"        {item},\n" for item in items) + "    }\n)"


def _check_compiles(text: str, name: str) -> None:
    try:
        compile(text, "handler.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ExportError(f"the exported handler.py of {name!r} does not compile: {exc.msg} at line {exc.lineno}") from None
