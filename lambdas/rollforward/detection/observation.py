"""What detection does with one live runtime setting: the one decision behind both the real
reconcile (`Tracker.observe`, which then carries it out) and the scan's dry run
(`rollforward.scan.predict`, which only reports it). Pure: no AWS call, no clock, no write.

A copy of this logic kept by hand in the dry run once predicted a pin the real scan did not
open (a published version carrying the `$LATEST` pin); one function cannot drift from itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rollforward.ledger import Pin, PinKind, Stage
from rollforward.live import RuntimeSetting
from rollforward.model import LATEST, PinKey, UpdateMode


class Action(StrEnum):
    """Observation actions, as reported by detection and the scan."""

    OPENED = "opened"
    ALREADY_OPEN = "already_open"
    CLOSED = "closed"
    NOT_PINNED = "not_pinned"
    REPINNED = "repinned"
    OPTED_OUT = "opted_out"  # pinned, but the function carries the opt-out tag


# Why a published version that is pinned is nevertheless not a pin of its own.
MANAGED_BY_CANARY = "managed by the running canary"
COVERED_BY_LATEST = "covered by the $LATEST pin"
PINNED_BY_CANARY = "rollforward's canary pinned this baseline version itself"

# The ledger evidence key under which the canary records what it is about to change (alias,
# baseline and candidate versions, the baseline's setting before the canary pinned it) before
# it changes anything; it is removed when the canary ends (promoted or rolled back). While it
# is there, the function may be half-moved: only the canary, or the scan restoring a canary
# whose execution died, may act on it.
CANARY_IN_FLIGHT = "canary_in_flight"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do for one (function, qualifier); `stage` is the pin's stage after it."""

    action: Action
    stage: str = ""
    detail: str = ""
    # CLOSED: the stage the pin is closed with (lifted | deleted).
    close_as: Stage | None = None


def needs_latest_pin(key: PinKey) -> bool:
    """A published version's decision depends on the `$LATEST` pin of the same function."""
    return key.qualifier != LATEST


def latest_covers(latest: Pin | None) -> str:
    """Why a published version is not examined at all (before reading its setting), or ""."""
    if latest is not None and latest.stage is Stage.CANARY:
        # The canary pins its baseline version itself; that is not a new pin.
        return MANAGED_BY_CANARY
    return ""


def canary_in_flight(pin: Pin | None) -> dict[str, Any]:
    """The unfinished canary's record on this pin ({} when no canary is in flight)."""
    record = pin.evidence.get(CANARY_IN_FLIGHT) if pin is not None else None
    return record if isinstance(record, dict) else {}


def pinned_by_canary(key: PinKey, live: RuntimeSetting | None, latest: Pin | None) -> bool:
    """True when `key` is the baseline version an unfinished canary of the `$LATEST` pin pinned
    itself: the canary pins the alias's version explicitly (so phase 2 of an Auto rollout cannot
    move it), and records that version's earlier setting first. A version that was Manual before
    the canary touched it is a human's pin and stays one."""
    record = canary_in_flight(latest)
    if latest is None or not record or live is None or not live.is_pinned:
        return False
    if str(record.get("baseline_version") or "") != key.qualifier:
        return False
    before = record.get("baseline_setting") or {}
    if not isinstance(before, dict) or not before.get("UpdateRuntimeOn"):
        return False  # recorded before it read the setting: it has not pinned anything yet
    if before.get("UpdateRuntimeOn") == str(UpdateMode.MANUAL):
        return False
    pinned_arn = str(record.get("pinned_arn") or latest.pinned_runtime_version_arn)
    return live.pinned_runtime_version_arn == pinned_arn


def decide_function_update(pin: Pin, live: RuntimeSetting | None, in_use: str | None) -> Decision:
    """An open item of kind `function_update` (a FunctionUpdate `$LATEST` left behind): it ends
    when the function is gone, switched to Auto or pinned (then the pin is tracked as one), or
    updated — `in_use`, the runtime version it runs now (None: not read), is no longer the one
    recorded. While rollforward's canary runs, the mode and the runtime are its own doing."""
    if live is None:
        return Decision(
            Action.CLOSED,
            str(Stage.DELETED),
            "the function or version no longer exists",
            close_as=Stage.DELETED,
        )
    if pin.stage is Stage.CANARY or canary_in_flight(pin):
        return Decision(Action.ALREADY_OPEN, str(pin.stage))
    if live.mode is UpdateMode.AUTO:
        return Decision(Action.CLOSED, str(Stage.LIFTED), "switched to Auto", close_as=Stage.LIFTED)
    if live.mode is UpdateMode.MANUAL:
        return Decision(
            Action.CLOSED,
            str(Stage.LIFTED),
            f"pinned to Manual ({live.pinned_runtime_version_arn}): tracked as a pin from now",
            close_as=Stage.LIFTED,
        )
    if in_use and in_use != pin.pinned_runtime_version_arn:
        return Decision(
            Action.CLOSED,
            str(Stage.LIFTED),
            f"updated: it now runs {in_use}",
            close_as=Stage.LIFTED,
        )
    return Decision(Action.ALREADY_OPEN, str(pin.stage))


def decide(
    key: PinKey,
    pin: Pin | None,
    live: RuntimeSetting | None,
    latest: Pin | None = None,
    in_use: str | None = None,
) -> Decision:
    """The decision for `key`, given its ledger item, its live setting (None: the function or
    version no longer exists) and, for a published version, the `$LATEST` pin. `in_use` (the
    runtime version `key` runs) is read only for an open `function_update` item."""
    if pin is not None and pin.is_open and pin.kind is PinKind.FUNCTION_UPDATE:
        return decide_function_update(pin, live, in_use)
    if needs_latest_pin(key):
        covered = latest_covers(latest)
        if covered:
            return Decision(Action.NOT_PINNED, detail=covered)
        if pinned_by_canary(key, live, latest):
            # Whatever became of the `$LATEST` pin (failed, lifted): this Manual setting is
            # rollforward's own, and restoring the dead canary undoes it.
            return Decision(Action.NOT_PINNED, detail=PINNED_BY_CANARY)
        if (
            latest is not None
            and latest.is_open
            and latest.kind is PinKind.MANUAL
            and live is not None
            and live.pinned_runtime_version_arn == latest.pinned_runtime_version_arn
        ):
            # A version published from the pinned $LATEST carries the same pin: the $LATEST
            # pin's canary rolls it forward through the alias.
            return Decision(Action.NOT_PINNED, detail=COVERED_BY_LATEST)
    is_open = pin is not None and pin.is_open
    # A failed pin is re-examined like an open one: it closes when the function is gone or no
    # longer pinned (a failed pin still pinned is resumed by the scan).
    closable = is_open or (pin is not None and pin.stage is Stage.FAILED)
    if live is None:
        if pin is not None and closable:
            return Decision(
                Action.CLOSED,
                str(Stage.DELETED),
                "the function or version no longer exists",
                close_as=Stage.DELETED,
            )
        return Decision(Action.NOT_PINNED, detail="no such function or version")
    if not live.is_pinned:
        # (not while a canary is in flight: FunctionUpdate is its own doing, and its rollback
        # or the scan's restoration puts the pin back first)
        if (
            pin is not None
            and closable
            and pin.stage is not Stage.CANARY
            and not canary_in_flight(pin)
        ):
            return Decision(
                Action.CLOSED,
                str(Stage.LIFTED),
                f"runtime updates set to {live.mode}",
                close_as=Stage.LIFTED,
            )
        return Decision(Action.NOT_PINNED, detail=f"mode is {live.mode}")
    arn = live.pinned_runtime_version_arn or ""
    if pin is not None and is_open:
        if pin.pinned_runtime_version_arn != arn and pin.stage is not Stage.CANARY:
            return Decision(Action.REPINNED, str(pin.stage), f"repinned to {arn}")
        return Decision(Action.ALREADY_OPEN, str(pin.stage))
    return Decision(Action.OPENED, str(Stage.TRACKING))
