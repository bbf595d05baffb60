"""`tests.ast_guard`: `ast.parse` is one thread at a time in the test process (CPython 3.11.7's
AST recursion counter is shared by threads: gh-106905 aborted a run with INTERNALERROR)."""

from __future__ import annotations

import ast
import gc
import sys
import threading
from typing import Any

import pytest

from tests import ast_guard


def test_ast_parse_runs_under_the_guard_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """While one thread is inside `ast.parse`, no other thread can take the guard's lock."""
    ast_guard.install()  # idempotent (tests/conftest.py installed it)
    others_could_enter: list[bool] = []

    def compile_spy(*args: Any, **kwargs: Any) -> Any:
        def try_lock() -> None:
            taken = ast_guard.LOCK.acquire(blocking=False)
            if taken:
                ast_guard.LOCK.release()
            others_could_enter.append(taken)

        other = threading.Thread(target=try_lock)
        other.start()
        other.join()
        return compile(*args, **kwargs)

    monkeypatch.setattr(ast, "compile", compile_spy, raising=False)  # what ast.parse calls
    ast.parse("x = 1")
    assert others_could_enter == [False]


class _Cyclic:
    """Garbage only the cyclic collector frees, running Python code as it goes: a collection
    inside one thread's tree conversion lets another thread in (how the bug strikes)."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        for _ in range(100):
            pass


def test_threads_parsing_at_once_never_see_the_recursion_mismatch() -> None:
    """Four threads parse a nested module while cyclic garbage is collected under them: on
    CPython 3.11.7 without the guard this fails within a few dozen parses."""
    ast_guard.install()
    source = "x = " + "(" * 30 + "1" + ")" * 30 + "\n"
    source += "\n".join(
        f"def f{i}(a, b=[1, {{2: 3}}]):\n    return [a for a in b]" for i in range(40)
    )
    errors: list[str] = []
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()

    def parse_many() -> None:
        for _ in range(40):
            try:
                ast.parse(source)
            except SystemError as error:
                errors.append(str(error))
                return
            [_Cyclic() for _ in range(20)]

    gc.set_threshold(50, 1, 1)
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=parse_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)
        gc.collect()
    assert errors == []
