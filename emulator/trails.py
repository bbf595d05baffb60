"""CloudTrail trails as AWS creates them: a new trail records every management event.

AWS: "By default, trails created without specific event selectors are configured to log all
read and write management events, and no data events" (CloudTrail User Guide, Logging
management events), so `GetEventSelectors` on a new trail answers one selector, ReadWriteType
All with IncludeManagementEvents. moto answers no selector at all, which would make a trail
look as if it recorded nothing (`rollforward doctor` reads the selectors).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

DEFAULT_EVENT_SELECTOR: dict[str, Any] = {
    "ReadWriteType": "All",
    "IncludeManagementEvents": True,
    "DataResources": [],
    "ExcludeManagementEventSources": [],
}

_installed = False
_lock = threading.Lock()


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.cloudtrail.models import Trail

        original = Trail.__init__

        @functools.wraps(original)
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self.event_selectors = [dict(DEFAULT_EVENT_SELECTOR)]

        Trail.__init__ = init  # type: ignore[method-assign]
        _installed = True
