"""One `ast.parse` at a time in the test process: a guard against a CPython 3.11 bug.

CPython before 3.11.8 (gh-106905) keeps the AST converter's recursion depth in one
per-interpreter counter. Two threads inside `ast.parse` at once (a thread switch while one is
converting its tree) corrupt it, and one of them fails with `SystemError: AST constructor
recursion depth mismatch`. Here the other threads are the embedded AWS's: executions and
deliveries formatting tracebacks (`traceback` calls `ast.parse` to underline the failing
expression); the unlucky caller was pytest formatting a failure, which aborted the whole run
with INTERNALERROR.

Every Python-level `ast.parse` (pytest's, `traceback`'s, `inspect`'s) goes through the module
attribute, so one reentrant lock around it serializes them. Parsing is short, and nothing in the
suite parses in a loop: the lock costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable
from typing import Any

LOCK = threading.RLock()
_original: Callable[..., Any] | None = None


def install() -> None:
    """Wrap `ast.parse` in `LOCK` (once per process)."""
    global _original
    if _original is not None:
        return
    original = ast.parse

    def parse(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return original(*args, **kwargs)

    parse.__doc__ = original.__doc__
    parse.__wrapped__ = original  # type: ignore[attr-defined]
    _original = original
    ast.parse = parse
