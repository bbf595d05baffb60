"""The scan's decisions, pure: what to do for one qualifier (`predict`, the dry run's view of
`observation.decide`), how a dry run pictures the ledger afterwards (`imagined`), and how a dead
tracking execution is named when it is started again (`restart_name`, `next_attempt`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from rollforward.clock import utc_now
from rollforward.detection.observation import CANARY_IN_FLIGHT, Action, decide
from rollforward.ledger import Pin, Stage
from rollforward.live import RuntimeSetting
from rollforward.model import PinKey

ACTOR = "rollforward (reconciling scan)"
# Tracking for these stages is a ladder turn: safe to start again from the ledger.
RESTARTABLE_STAGES = frozenset({Stage.TRACKING, Stage.AWAITING_APPROVAL, Stage.SNOOZED})
DEAD_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
LIVE_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})
GONE = "GONE"  # no execution ARN recorded, or Step Functions does not know it
EXECUTION_NAME_LIMIT = 80
# A pin a resumed scan's earlier invocations already read, carried in the child's state as
# this many hex digits of its id's SHA-256 (48 bits: 18,000 pins fit a 256 KiB state; the chance
# that one of N pins not read collides with a read one is about N / 2**48).
COVERED_DIGEST_HEX = 12


def covered_digest(pin_id: str) -> str:
    """How a scan's state names a pin its listing already reached this cycle."""
    return hashlib.sha256(pin_id.encode()).hexdigest()[:COVERED_DIGEST_HEX]


@dataclass(frozen=True)
class QualifierOutcome:
    """What the scan did (or, in a dry run, would do) for one (function, qualifier)."""

    pin_id: str
    # opened | closed | repinned | resumed | restored | already_open | not_pinned
    action: str
    stage: str = ""  # for closed: lifted | deleted


def predict(
    key: PinKey, pin: Pin | None, live: RuntimeSetting | None, latest: Pin | None = None
) -> QualifierOutcome:
    """What the scan would do for one qualifier, without doing it (the dry run).

    The decision is `rollforward.detection.observation.decide`, the one `Tracker.observe` carries out;
    on top of it only the scan's own step: a FAILED pin still pinned live is resumed.
    """
    decision = decide(key, pin, live, latest)
    if decision.action is Action.OPENED and pin is not None and pin.stage is Stage.FAILED:
        return QualifierOutcome(key.id, "resumed", str(Stage.TRACKING))
    return QualifierOutcome(key.id, str(decision.action), decision.stage)


def imagined(
    key: PinKey, pin: Pin | None, live: RuntimeSetting | None, outcome: QualifierOutcome
) -> Pin | None:
    """The ledger item after `outcome`, as a dry run pictures it, so that later decisions in
    the same dry run (a version published from a `$LATEST` it would open) see what the real
    run would see."""
    arn = (live.pinned_runtime_version_arn or "") if live is not None else ""
    if outcome.action in {"opened", "resumed"}:
        if pin is not None and outcome.action == "resumed":
            return replace(pin, stage=Stage.TRACKING, outcome={})
        return Pin(
            key=key,
            generation=0,
            stage=Stage.TRACKING,
            first_seen=utc_now(),
            pinned_runtime_version_arn=arn,
            pinned_by=ACTOR,
        )
    if pin is not None and outcome.action == "closed":
        return replace(pin, stage=Stage(outcome.stage))
    if pin is not None and outcome.action == "repinned":
        return replace(pin, pinned_runtime_version_arn=arn)
    return pin


def restored(pin: Pin) -> Pin:
    """The ledger item after the canary's rollback restored it, as a dry run pictures it."""
    evidence = {k: v for k, v in pin.evidence.items() if k != CANARY_IN_FLIGHT}
    return replace(pin, stage=Stage.TRACKING, evidence=evidence)


def restart_name(pin: Pin, attempt: int) -> str:
    """Execution name of a pin episode's `attempt`-th tracking execution (0: the first)."""
    name = pin.execution_name if attempt == 0 else f"{pin.execution_name}-r{attempt}"
    if len(name) > EXECUTION_NAME_LIMIT:
        raise ValueError(f"execution name longer than {EXECUTION_NAME_LIMIT}: {name}")
    return name


def next_attempt(pin: Pin) -> int:
    """The attempt after the one recorded in the ledger (0 when none was recorded)."""
    if not pin.execution_arn:
        return 0
    recorded = pin.execution_arn.rsplit(":", 1)[-1]
    match = re.fullmatch(re.escape(pin.execution_name) + r"-r(\d+)", recorded)
    return int(match.group(1)) + 1 if match else 1
