"""`ListFunctions(FunctionVersion=ALL)` in the embedded AWS: every function's `$LATEST` and each
published version, as AWS lists them.

moto deep-copies each function to give its `$LATEST` item a qualified ARN, and the copy fails on
what the embedded AWS keeps on a function (`TypeError: cannot pickle 'mappingproxy'`), so the
ALL listing — the reconciling scan's listing (`rollforward.scan.listing`) — answered a 500. A
shallow copy is enough: only the copy's `function_arn` is rebound. Paging and order (by name,
`$LATEST` first, then versions ascending) are `emulator.lambda_api`'s.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from moto.awslambda.models import LambdaStorage

_installed = False


def _all(self: Any) -> Iterable[Any]:
    """Replacement for moto's `LambdaStorage.all`: the same items, without the deep copy."""
    result = []
    for group in list(self._functions.values()):
        if group["latest"] is not None:
            latest = copy.copy(group["latest"])
            latest.function_arn = f"{latest.function_arn}:$LATEST"
            result.append(latest)
        result.extend(group["versions"])
    return result


def install() -> None:
    global _installed
    if _installed:
        return
    LambdaStorage.all = _all  # type: ignore[method-assign]
    _installed = True
