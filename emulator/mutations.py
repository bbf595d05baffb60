"""A count of the successful calls that may change state, per (service, action).

Tests that must show a refused request changed nothing compare two snapshots of this counter
instead of re-reading every table and every execution's history (which took seconds per case
with a deployed stack). It sits in moto's `call_action`, where every service's every request
passes in both modes (in process and the server), after authentication and authorization (a
request IAM refuses never reaches it) and outside request validation (an invalid request is
answered 400 and counts as nothing, as on AWS).
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

# Operations that read only, by the verb AWS names them with (KMS Encrypt/Decrypt and
# GenerateDataKey derive data without changing a resource).
READ_VERBS = (
    "Get",
    "List",
    "Describe",
    "Scan",
    "Query",
    "BatchGet",
    "Filter",
    "Lookup",
    "Search",
    "Test",
    "Simulate",
    "Generate",
    "Decrypt",
    "Encrypt",
    "Head",
    "Select",
)

_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()


def is_read(action: str) -> bool:
    return action.startswith(READ_VERBS)


def snapshot() -> Counter[tuple[str, str]]:
    """The successful state-changing calls so far, per (service, action): compare two."""
    with _lock:
        return Counter(_counts)


def _counted(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        answer = original(self)
        try:
            action = self._get_action() or ""
        except Exception:  # a route moto cannot name: count it under its path
            action = f"?{getattr(self, 'path', '')}"
        if action and not is_read(action):
            try:
                succeeded = int(answer[0]) < 400
            except (TypeError, ValueError, IndexError):
                succeeded = True  # an answer we cannot read: count it, never hide a write
            if succeeded:
                with _lock:
                    _counts[(str(self.boto3_service_name), action)] += 1
        return answer

    return call_action


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Wrap moto's `BaseResponse.call_action` once; installed right after request validation,
    before the parts that copy the base method onto a service's response class."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.core.responses import BaseResponse

        BaseResponse.call_action = _counted(BaseResponse.call_action)  # type: ignore[method-assign]
        _installed = True
