"""Lambda's `LastModified` on the emulated clock, changed by every code or configuration update.

AWS sets `LastModified` when a function is created, published, or its code or configuration is
updated; moto stamps creation and publication with the host's clock and never changes it on an
update. rollforward's posture report reads it ("FunctionUpdate function not updated for 30
days", an image function's age outside ECR), so it must move with the emulated clock the
stories advance. AWS's format: `2026-12-02T00:41:36.000+0000`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.awslambda.models import LambdaFunction

from emulator.state import STATE

_lock = threading.Lock()
_installed = False


def last_modified_now() -> str:
    now = STATE.clock.now()
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _stamped(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def stamped(self: LambdaFunction, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        self.last_modified = last_modified_now()
        return result

    return stamped


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        for name in ("__init__", "set_version", "update_configuration", "update_function_code"):
            setattr(LambdaFunction, name, _stamped(getattr(LambdaFunction, name)))
        _installed = True
