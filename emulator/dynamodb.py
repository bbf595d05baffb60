"""DynamoDB item operations are atomic, as on AWS.

moto applies an UpdateItem's actions one at a time to the stored item, so a GetItem served on
another thread meanwhile can read a torn item (a new `snooze` beside the old `stage`). On AWS
every item operation is atomic ("Working with items and attributes", DynamoDB Developer
Guide), and TransactWriteItems is all-or-nothing. One reentrant lock around moto's
DynamoDB handler serialises the requests: each is applied whole before the next is read.
"""

from __future__ import annotations

import threading
from typing import Any

_installed = False
_requests = threading.RLock()


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _requests:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _installed = True
