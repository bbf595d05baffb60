"""Screening: which functions deserve a GetRuntimeManagementConfig this cycle.

GetFunction has its own bucket (100 req/s per account and region); every other control-plane
call shares the 15 req/s one with the user's deploys. A screening cycle reads
`RuntimeVersionConfig.RuntimeVersionArn` of every function's `$LATEST` with GetFunction, groups
the functions by (runtime, architecture), and spends the shared bucket only on

- **outliers**: a function whose runtime version ARN is not the group's *current* ARN, and
- **what the ledger holds**: every function with an open or failed pin (or a canary in
  flight) is read as in a full pass (its published versions too, by the orphan phase).

The group's current ARN is the one most of its functions run, not counting functions the ledger
holds, and preferring ARNs the ledger does not record as pinned: a pinned ARN is current only
when the group runs nothing else (no newer version in sight). So the moment one pin of a mass
pinning is known, every function on that ARN is an outlier. Pure: no AWS call.

**Why screening cannot miss a pin that matters.** A Manual function never changes its runtime
version; Auto functions converge on the newest one (phase 2 of the rollout, published
versions included). A pin matters when there is a newer version to roll forward to. Once the
account's Auto functions of that runtime and architecture run the newer ARN, it is the
group's majority, so the pinned function's older ARN is an outlier and is read this cycle.

**What screening can miss until the next full pass** (every `SCAN_FULL_EVERY` cycles):
- a pin on the group's majority ARN — the newest version is not yet the majority (AWS's phase
  2 is still rolling out, or most of the group is pinned or on FunctionUpdate and idle) and
  CloudTrail detection missed the pin;
- a published version pinned behind an alias that detection missed (screening reads no
  ListAliases: alias-routed versions are read in full passes, and always for pins the ledger
  holds);
- a function with no GetFunction answer this cycle (throttled): it is read in full.
A full pass reads everything (ListAliases and one GetRuntimeManagementConfig per qualifier).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Group = tuple[str, str]  # (runtime, architecture)

# A full reconciliation every this many hourly cycles, screening cycles in between (e.g. 24:
# daily). 1 — the default until the deploy sets it — is a full pass every cycle. What screening
# can miss until the next full pass: rollforward.scan.screening.
FULL_EVERY_VARIABLE = "SCAN_FULL_EVERY"
DEFAULT_FULL_EVERY = 1
CYCLE_SECONDS = 3600


def is_full_cycle(request: Mapping[str, Any], env: Mapping[str, str], now: float) -> bool:
    """A full pass when asked (`{"full": true}`, or a resumed scan: its marker is a full
    pass's) or every N-th hourly cycle, counted from the epoch (stateless: every invocation in
    the same hour agrees)."""
    if "full" in request:
        return bool(request["full"])
    if request.get("marker"):
        return True
    every = max(1, int(env.get(FULL_EVERY_VARIABLE) or DEFAULT_FULL_EVERY))
    return int(now // CYCLE_SECONDS) % every == 0


@dataclass(frozen=True)
class FunctionRuntime:
    """What GetFunction says of one version: its runtime and the runtime version it runs."""

    runtime: str
    architecture: str
    runtime_version_arn: str  # "" when Lambda did not say (image functions, errors)

    @property
    def group(self) -> Group:
        return (self.runtime, self.architecture)


@dataclass(frozen=True)
class Screen:
    """The current ARN per (runtime, architecture), decided from one cycle's GetFunction reads."""

    current: dict[Group, str]

    @classmethod
    def of(cls, observed: Iterable[FunctionRuntime], pinned_arns: Iterable[str] = ()) -> Screen:
        """`observed`: the functions the ledger does not hold; `pinned_arns`: every runtime
        version ARN the ledger records as pinned."""
        pinned = set(pinned_arns)
        counts: dict[Group, Counter[str]] = {}
        for function in observed:
            if function.runtime_version_arn:
                counts.setdefault(function.group, Counter())[function.runtime_version_arn] += 1
        current = {}
        for group, tally in counts.items():
            # An ARN someone pinned is current only when the group runs nothing else (then no
            # newer version is in sight); most functions win, ties broken by the ARN itself so
            # that every scan decides alike.
            unpinned = {arn: n for arn, n in tally.items() if arn not in pinned}
            candidates = unpinned or dict(tally)
            current[group] = max(candidates.items(), key=lambda item: (item[1], item[0]))[0]
        return cls(current)

    def is_outlier(self, function: FunctionRuntime | None) -> bool:
        """True when the function must be read in full: no answer, no ARN, a group with no
        current ARN, or an ARN other than the group's current one."""
        if function is None or not function.runtime_version_arn:
            return True
        return self.current.get(function.group) != function.runtime_version_arn


__all__ = ["FULL_EVERY_VARIABLE", "FunctionRuntime", "Group", "Screen", "is_full_cycle"]
