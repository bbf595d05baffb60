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


def records_management_writes(account: str, region: str) -> bool:
    """Whether a trail of `account` covering `region` is logging write management events, which
    EventBridge needs to receive "AWS API Call via CloudTrail" events: "To record events with a
    detail-type value of AWS API Call via CloudTrail, a CloudTrail trail with logging enabled is
    required" (EventBridge User Guide, "AWS service events delivered via AWS CloudTrail")."""
    from moto.cloudtrail.models import cloudtrail_backends

    for backend in list(cloudtrail_backends[account].values()):
        for trail in list(backend.trails.values()):
            covers = trail.is_multi_region or trail.region_name == region
            if covers and trail.status.is_logging and _selects_management_writes(trail):
                return True
    return False


def _selects_management_writes(trail: Any) -> bool:
    advanced = getattr(trail, "advanced_event_selectors", None) or []
    if advanced:
        # An advanced selector on eventCategory Management (readOnly false or unset) records them.
        for selector in advanced:
            fields = {str(f.get("Field")): f for f in selector.get("FieldSelectors", []) or []}
            category = fields.get("eventCategory", {})
            read_only = fields.get("readOnly", {})
            if "Management" in (category.get("Equals") or []) and "true" not in (
                read_only.get("Equals") or []
            ):
                return True
        return False
    return any(
        selector.get("IncludeManagementEvents", True)
        and selector.get("ReadWriteType", "All") in {"All", "WriteOnly"}
        for selector in trail.event_selectors or []
    )
