"""The posture as CloudWatch gauges: what the Posture function emits and the dashboard plots.

Per row of the shared-responsibility table: `PostureFunctions` (versions in the row),
`PostureUnmet` and `PostureDue` (responsibility not met / behind within the grace period) and
`PostureOldestUnmetSeconds`, dimension `Row` (and Powertools' `service`), namespace
`rollforward`. The handler (`handlers/posture.py`) writes them as EMF documents from the pass's
`RowCount`s, every row every time (an empty row reports zeros: a gauge must not vanish); the
dashboard's posture widgets search `{rollforward,Row,service}` (tests/e2e/test_posture_gauges.py
holds the two together).
"""

from __future__ import annotations

NAMESPACE = "rollforward"
DIMENSION = "Row"
METRICS = ("PostureFunctions", "PostureUnmet", "PostureDue", "PostureOldestUnmetSeconds")
