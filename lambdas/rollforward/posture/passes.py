"""A posture pass over an account too big for one invocation: what one chunk hands the next.

The Posture function reads the account page by page within its time (`read_fleet`'s
`out_of_time`); when it stops early it invokes itself with the ListFunctions marker to resume
from and a `PassCarry`: the per-row counts so far (so the gauges, emitted once when the pass
ends, count the whole account, never a chunk) and the newest runtime version seen per runtime,
region and architecture (so a later chunk judges its FunctionUpdate functions against what the
earlier chunks saw). A chunk's own facts join the carry before it assesses, so within a chunk
nothing is lost; an earlier chunk cannot learn from a later one (a FunctionUpdate function read
before the fleet's newest deploy may show `unknown` until the next pass).

The carry travels in the function's own event: it is parsed defensively and a carry that does
not parse starts the pass again (nothing is lost but time). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rollforward.model import UpdateMode
from rollforward.posture.table import ROWS, Assessment, FunctionFacts, Row, RowCount, summarize

MAX_CHUNKS = 200  # 200 x 15 min: a pass that has not ended by then starts again tomorrow


@dataclass
class PassCarry:
    chunk: int = 0  # how many chunks ran before this one
    counts: dict[str, dict[str, float]] = field(default_factory=dict)  # row -> counters
    newest: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (modified, arn)
    owner_notices: int = 0
    items_opened: int = 0
    unreadable: list[str] = field(default_factory=list)

    def see(self, fleet: Iterable[FunctionFacts]) -> dict[tuple[str, str, str], str]:
        """Add this chunk's Auto/FunctionUpdate versions to the newest seen; the mapping
        `assess_fleet` takes (`table.newest_seen`'s shape)."""
        for facts in fleet:
            if facts.update_runtime_on not in (UpdateMode.AUTO, UpdateMode.FUNCTION_UPDATE):
                continue
            if not facts.runtime_version_arn or facts.package_type == "Image":
                continue
            key = "|".join(facts.runtime_key)
            modified = facts.last_modified.isoformat()
            if key not in self.newest or modified > self.newest[key][0]:
                self.newest[key] = (modified, facts.runtime_version_arn)
        seen: dict[tuple[str, str, str], str] = {}
        for key, (_, arn) in self.newest.items():
            runtime, region, architecture = [*key.split("|"), "", "", ""][:3]
            seen[(runtime, region, architecture)] = arn
        return seen

    def add(self, assessments: Iterable[Assessment], now: datetime) -> None:
        for count in summarize(assessments, now):
            row = self.counts.setdefault(count.row.value, {})
            row["functions"] = row.get("functions", 0) + count.functions
            row["unmet"] = row.get("unmet", 0) + count.unmet
            row["due"] = row.get("due", 0) + count.due
            oldest = count.oldest_unmet.total_seconds() if count.oldest_unmet else 0.0
            row["oldest_unmet_seconds"] = max(row.get("oldest_unmet_seconds", 0.0), oldest)

    def row_counts(self) -> list[RowCount]:
        """The whole pass's counts per row (what the gauges report when it ends)."""
        counted = []
        for row in ROWS:
            values = self.counts.get(row.value, {})
            oldest = float(values.get("oldest_unmet_seconds", 0.0))
            counted.append(
                RowCount(
                    row=row,
                    functions=int(values.get("functions", 0)),
                    unmet=int(values.get("unmet", 0)),
                    due=int(values.get("due", 0)),
                    oldest_unmet=timedelta(seconds=oldest) if oldest else None,
                )
            )
        return counted

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk,
            "counts": self.counts,
            "newest": {key: list(value) for key, value in self.newest.items()},
            "owner_notices": self.owner_notices,
            "items_opened": self.items_opened,
            "unreadable": self.unreadable[-100:],
        }

    @classmethod
    def from_dict(cls, data: object) -> PassCarry | None:
        """The carry an earlier chunk sent, or None when there is none or it does not parse."""
        if not isinstance(data, Mapping):
            return None
        try:
            counts = {
                Row(str(row)).value: {str(k): float(v) for k, v in dict(values).items()}
                for row, values in dict(data.get("counts") or {}).items()
            }
            newest = {
                str(key): (str(value[0]), str(value[1]))
                for key, value in dict(data.get("newest") or {}).items()
                if isinstance(value, list | tuple) and len(value) == 2
            }
            return cls(
                chunk=int(data.get("chunk", 0)),
                counts=counts,
                newest=newest,
                owner_notices=int(data.get("owner_notices", 0)),
                items_opened=int(data.get("items_opened", 0)),
                unreadable=[str(u) for u in list(data.get("unreadable") or [])][-100:],
            )
        except (TypeError, ValueError):
            return None
