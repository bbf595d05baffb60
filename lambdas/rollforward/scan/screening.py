"""Screening: which qualifiers deserve a shared-bucket call this cycle.

GetFunction has its own bucket (100 req/s per account and region); every other control-plane
call shares the 15 req/s one with the user's deploys. Every cycle reads, with GetFunction,
`RuntimeVersionConfig.RuntimeVersionArn` of every function's `$LATEST` and of each published
version the listing shows (`FunctionVersion=ALL`), and groups the functions by (runtime,
architecture). `plan_reading` then spends the shared bucket on

- `$LATEST`: on a **full pass**, always (one GetRuntimeManagementConfig: only it says
  Manual); on a **screening cycle**, when it is an outlier (its ARN is not the group's
  *current* ARN) or the ledger holds anything of the function;
- a published version the ledger holds: always (its pin is read where it stands);
- any other published version: only when it is an outlier, and then only if an alias routes
  traffic to it — one ListAliases for the function, then one GetRuntimeManagementConfig per
  routed outlier. A function with no published version never costs a ListAliases.

A full pass thus costs about 1 shared call per function (`$LATEST`) plus (F + V) / 50 for the
listing plus the ledger's version pins and the outlier versions, against 2 + (routed versions)
when every function's aliases were listed.

The group's current ARN is the one most of its functions' `$LATEST` run, not counting functions
the ledger holds, and preferring ARNs the ledger does not record as pinned: a pinned ARN is
current only when the group runs nothing else (no newer version in sight). So the moment one pin
of a mass pinning is known, every function on that ARN is an outlier. Pure: no AWS call.

**Why screening cannot miss a pin that matters.** A Manual qualifier never changes its runtime
version; Auto ones converge on the newest (phase 2 of the rollout, published versions
included). A pin matters when there is a newer version to roll forward to. Once the account's
Auto functions of that runtime and architecture run the newer ARN, it is the group's majority,
so the pinned qualifier's older ARN is an outlier and is read this cycle — `$LATEST` or an
alias-routed version alike.

**What it can miss until the next full pass** (every `SCAN_FULL_EVERY` cycles):
- a `$LATEST` pin on the group's majority ARN — the newest version is not yet the majority
  (AWS's phase 2 is still rolling out, or most of the group is pinned or on FunctionUpdate and
  idle) and CloudTrail detection missed the pin;
- a function with no GetFunction answer this cycle is read in full (never missed).

**What a full pass can miss too** (it reads every `$LATEST`, but screens versions): an
alias-routed version pinned on the group's *current* ARN that detection missed. On the newest
version it has nothing to roll forward to; the cycle after a newer version becomes the group's
majority it is an outlier and is read (its ledger item's first-seen is then that cycle: the age
counts from when it fell behind). While the majority is not the newest, a version pinned on the
majority ARN waits like the `$LATEST` case above, on a full pass too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rollforward.model import LATEST

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


@dataclass(frozen=True)
class Reading:
    """What phase 1 reads of one function this cycle on the shared bucket."""

    latest: bool  # GetRuntimeManagementConfig of `$LATEST`
    versions: tuple[str, ...] = ()  # published versions read whatever routes to them
    if_routed: tuple[str, ...] = ()  # outlier versions: read if an alias routes to them

    @property
    def reads_nothing(self) -> bool:
        return not (self.latest or self.versions or self.if_routed)


def plan_reading(
    versions: Iterable[str],
    runtimes: Mapping[str, FunctionRuntime | None],
    screen: Screen,
    *,
    full: bool,
    held: Iterable[str] = (),
) -> Reading:
    """The shared-bucket reads one function deserves (see the module docstring).

    `versions`: its published versions, as listed; `runtimes`: GetFunction's answer per
    qualifier (`$LATEST` and each version; missing or None: no answer, an outlier); `held`: the
    qualifiers of the function the ledger holds (open, failed, canary in flight)."""
    kept = set(held)
    listed = sorted(set(versions), key=_version_order)
    return Reading(
        latest=full or bool(kept) or screen.is_outlier(runtimes.get(LATEST)),
        versions=tuple(v for v in listed if v in kept),
        if_routed=tuple(v for v in listed if v not in kept and screen.is_outlier(runtimes.get(v))),
    )


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


__all__ = [
    "FULL_EVERY_VARIABLE",
    "FunctionRuntime",
    "Group",
    "Reading",
    "Screen",
    "is_full_cycle",
    "plan_reading",
]
