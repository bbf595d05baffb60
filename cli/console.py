"""`rollforward console`: the on-call web console, served on this machine only.

What on-call needs on one screen: the fleet of pinned functions by age and stage, the pending
approvals with Approve / Reject, each function's canary (candidate vs baseline error rate and
traffic weight, an SVG drawn here from the ledger's verdicts) and its audit timeline.

Why it is built the way it is:

- It acts as *you*. Every decision (approve, reject, snooze, exempt) is a SigV4-signed POST to
  the decision API with the credentials the console was started with (`DecisionClient`), so the
  approver on record is your IAM principal and the deployed rules (single-use ids, expiry,
  allowed approvers, separation of duties) apply exactly as for the CLI. The console reads the
  ledger, the approvals table and the audit trail; it never writes any of them.
- Because it holds your credentials, it listens on a loopback address only, answers only
  requests whose `Host` is a loopback name (a DNS-rebinding page cannot read it), and every
  POST must carry this browser session's CSRF token twice — in a `SameSite=Strict`, HttpOnly
  cookie and in a hidden form field — and, when the browser says where it comes from
  (`Origin`, `Sec-Fetch-Site`), come from the console itself.
- Nothing acts on a GET: mail scanners and link previews prefetch links. A decision takes two
  POSTs: the form, then a confirmation page that restates function, decision and reason and
  carries `confirm=yes`. The reason is required on the server, whatever the browser checked.
- Everything shown is escaped (Jinja2 with autoescape on, for SVG too): function names, tags
  and reasons are other people's input. The Content-Security-Policy allows no script at all:
  the pages need none.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import secrets
import sys
import threading
import time
import webbrowser
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.exceptions import BotoCoreError, ClientError
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from rollforward import failures
from rollforward.approvals import MAX_REASON
from rollforward.audit import AuditRecord
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.ledger import OPEN_STAGES, Pin, Stage
from rollforward.model import PinKey
from rollforward_cli.aws import NotDeployed, Target
from rollforward_cli.commands.base import (
    Context,
    GlobalOptions,
    UsageError,
    check_until,
    ensure_reachable,
)
from rollforward_cli.commands.pins import NextStep, next_step
from rollforward_cli.errors import explain
from rollforward_cli.render import (
    Output,
    format_age,
    format_relative,
    jsonable,
    short_runtime_version,
)
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

STATIC_DIR = Path(__file__).with_name("console_static")
CSRF_COOKIE = "rollforward_console_csrf"
CSRF_FIELD = "csrf_token"
MAX_SESSIONS = 1000  # CSRF tokens remembered; the oldest are forgotten first
# Discovery and the policy in force are re-read this often, so a redeploy shows up without a
# restart while a page view does not cost a Lambda control-plane call (15 req/s, shared).
CONTEXT_TTL_SECONDS = 300.0
DECISION_ACTIONS = ("approve", "reject")
HOLD_ACTIONS = ("snooze", "exempt")
PAST_TENSE = {
    "approve": "approved",
    "reject": "rejected",
    "snooze": "snoozed",
    "exempt": "exempted",
}
STAGE_ORDER = [str(stage) for stage in Stage]
# Audit events that end a canary (the post-promotion verdict is judged at the first of them).
CANARY_ENDINGS = {"resolved", "rolled_back", "stopped", "failed"}
STATIC_FILES = {"console.css": "text/css; charset=utf-8"}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

logger = logging.getLogger("rollforward.console")


# ------------------------------------------------------------------------ entry points


def serve(
    target: Target, port: int = 8080, host: str = "127.0.0.1", open_browser: bool = False
) -> None:
    """Serve the console until Ctrl-C (KeyboardInterrupt propagates to the caller).

    Reads the deployment first, so "not deployed" (`NotDeployed`) or an unreachable endpoint
    is reported before anything listens. Raises ValueError for a non-loopback `host`, OSError
    when the port is taken.
    """
    require_loopback(host)
    if target.endpoint_url:
        ensure_reachable(target.endpoint_url, emulator=target.is_emulator)
    app = make_app(target)
    app.backend.check_deployed()
    server = make_server(host, port, app, threaded=True)
    url = f"http://{_url_host(host)}:{server.server_port}/"
    print(f"rollforward console on {url} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    print(
        "Decisions are signed with your AWS credentials: you are the approver on record.",
        file=sys.stderr,
        flush=True,
    )
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def make_app(target: Target) -> ConsoleApp:
    """The console as a WSGI application (tests serve it on a free port in a thread)."""
    return ConsoleApp(Backend(target))


def require_loopback(host: str) -> None:
    """The console acts with your credentials: anyone who can reach it can act as you."""
    if not _is_loopback(host):
        raise ValueError(
            f"the console only listens on a loopback address (127.0.0.1, ::1, localhost), "
            f"not {host!r}: it acts with your AWS credentials"
        )


def _is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# ------------------------------------------------------------------------ reading AWS


class _ConsoleContext(Context):
    """The CLI's lazily built AWS context (discovery, ledger, approvals, audit, decision API,
    policy), on a target the console was given rather than one it resolves."""

    def __init__(self, target: Target) -> None:
        super().__init__(GlobalOptions(), Output("table", sys.stderr, sys.stderr))
        self._given_target = target

    @cached_property
    def target(self) -> Target:
        return self._given_target

    def now(self) -> datetime:
        """The target's clock: the emulator's control route for a served emulator, else
        `rollforward.clock` (the system clock; the virtual one inside an embedded AWS)."""
        return super().now() if self.target.is_emulator else utc_now()


class Backend:
    """Everything the console reads, and the one thing it does (post a decision).

    boto3 sessions and resources are not thread-safe and a console has one user, so AWS work
    is serialized by one lock; the web server's threads only keep slow sockets apart.
    """

    def __init__(
        self,
        target: Target,
        *,
        ttl_seconds: float = CONTEXT_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.lock = threading.Lock()
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._context: _ConsoleContext | None = None
        self._built_at = 0.0
        self._identity: str | None = None

    @property
    def context(self) -> _ConsoleContext:
        """Callers hold `lock`."""
        if self._context is None or self._monotonic() - self._built_at > self._ttl:
            self._context = _ConsoleContext(self.target)
            self._built_at = self._monotonic()
        return self._context

    def identity(self) -> str:
        """Who the console acts as (the approver on record), or "" when STS will not say."""
        with self.lock:
            if self._identity is None:
                try:
                    answer = self.context.target.client("sts").get_caller_identity()
                    self._identity = str(answer.get("Arn", ""))
                except (ClientError, BotoCoreError):
                    self._identity = ""
            return self._identity

    def check_deployed(self) -> None:
        with self.lock:
            _ = self.context.discovery

    def fleet(self, *, include_closed: bool) -> FleetView:
        with self.lock:
            context = self.context
            pins = context.ledger.list_pins(open_only=not include_closed)
            now = context.now()
            approvals = context.approvals.pending()
            policy = context.policy
        pending = _newest_pending_by_pin(approvals)
        pins.sort(key=lambda pin: (pin.first_seen, pin.key.id))
        rows = []
        for pin in pins:
            approval = pending.get(pin.key.id) if pin.is_open else None
            rows.append(PinRow.of(pin, now, next_step(pin, policy, now, approval), approval))
        by_pin = {pin.key.id: pin for pin in pins}
        requests_ = [
            PendingApproval.of(item, by_pin.get(str(item.get("pin_id", ""))), now)
            for item in sorted(pending.values(), key=lambda i: str(i.get("expires_at", "")))
        ]
        return FleetView(now=now, rows=rows, pending=requests_, include_closed=include_closed)

    def pin(self, pin_id: str) -> PinView | None:
        key = PinKey.from_id(pin_id)
        with self.lock:
            context = self.context
            pin = context.ledger.get(key)
            if pin is None:
                return None
            now = context.now()
            approval = None
            if pin.approval_id:
                record = context.approvals.get(pin.approval_id)
                approval = {k: v for k, v in (record or {}).items() if k != "task_token"} or None
            pending = approval if approval and approval.get("status") == "pending" else None
            step = next_step(pin, context.policy, now, pending)
            records = (
                context.audit.read(pin_id=pin.key.id)
                if context.discovery.get("audit_log_group")
                else []
            )
        return PinView.of(pin, now, step, approval, records)

    def approval_subject(self, approval_id: str) -> dict[str, Any] | None:
        """The approval a decision is about (no task token), to restate it before confirming."""
        with self.lock:
            record = self.context.approvals.get(approval_id)
        if not record:
            return None
        return {k: v for k, v in record.items() if k != "task_token"}

    def decide(self, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST one decision, signed as the console's identity: (HTTP status, API answer)."""
        with self.lock:
            client = self.context.decisions
            try:
                return client.post(**fields)
            except requests.Timeout:
                return 504, {
                    "refused": "the decision API did not answer in time; the decision may or "
                    "may not have been recorded: check the function's timeline"
                }
            except requests.ConnectionError:
                return 502, {"refused": f"cannot reach the decision API at {client.url}"}


def _newest_pending_by_pin(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        pin_id = str(item.get("pin_id", ""))
        if pin_id not in latest or str(item.get("requested_at", "")) > str(
            latest[pin_id].get("requested_at", "")
        ):
            latest[pin_id] = item
    return latest


# ------------------------------------------------------------------------ view models


def _time(value: object) -> datetime | None:
    try:
        return parse_iso(str(value)) if value else None
    except ValueError:
        return None


def _relative(value: object, now: datetime) -> str:
    moment = value if isinstance(value, datetime) else _time(value)
    return format_relative(moment, now) if moment else ""


@dataclass(frozen=True)
class PinRow:
    pin_id: str
    function_name: str
    qualifier: str
    account_region: str
    runtime: str
    age: str
    age_seconds: int
    stage: str
    stage_note: str
    owner: str
    team: str
    next_label: str
    next_when: str
    approval_id: str

    @classmethod
    def of(
        cls, pin: Pin, now: datetime, step: NextStep | None, approval: dict[str, Any] | None
    ) -> PinRow:
        note = ""
        if pin.exemption and pin.exemption.until > now and pin.is_open:
            note = f"exempt until {iso(pin.exemption.until)}"
        elif pin.snooze and pin.snooze.until > now and pin.is_open:
            note = f"snoozed until {iso(pin.snooze.until)}"
        when = ""
        if step and step.due:
            when = format_relative(step.due, now).replace(" ago", " overdue")
        return cls(
            pin_id=pin.key.id,
            function_name=pin.key.function_name,
            qualifier=pin.key.qualifier,
            account_region=f"{pin.key.account}/{pin.key.region}",
            runtime=short_runtime_version(
                pin.pinned_runtime_version_arn, pin.pinned_runtime_version_name
            ),
            age=format_age(now - pin.first_seen),
            age_seconds=max(0, int((now - pin.first_seen).total_seconds())),
            stage=str(pin.stage),
            stage_note=note,
            owner=pin.owner,
            team=pin.team,
            next_label=step.label if step else "",
            next_when=when,
            approval_id=str(approval.get("approval_id", "")) if approval else "",
        )


@dataclass(frozen=True)
class PendingApproval:
    approval_id: str
    pin_id: str
    function_name: str
    qualifier: str
    owner: str
    pinned_by: str
    age: str
    requested: str
    expires: str
    round: str

    @classmethod
    def of(cls, item: dict[str, Any], pin: Pin | None, now: datetime) -> PendingApproval:
        pin_id = str(item.get("pin_id", ""))
        try:
            key: PinKey | None = PinKey.from_id(pin_id)
        except ValueError:
            key = None
        return cls(
            approval_id=str(item.get("approval_id", "")),
            pin_id=pin_id,
            function_name=key.function_name if key else pin_id,
            qualifier=key.qualifier if key else "",
            owner=pin.owner if pin else "",
            pinned_by=str(item.get("pinned_by", "")),
            age=format_age(now - pin.first_seen) if pin else "",
            requested=_relative(item.get("requested_at"), now),
            expires=_relative(item.get("expires_at"), now),
            round=str(item.get("round", "")),
        )


@dataclass(frozen=True)
class FleetView:
    now: datetime
    rows: list[PinRow]
    pending: list[PendingApproval]
    include_closed: bool

    @property
    def stage_counts(self) -> list[tuple[str, int]]:
        """Every stage that has pins, in lifecycle order."""
        counts = Counter(row.stage for row in self.rows)
        return [(stage, counts[stage]) for stage in STAGE_ORDER if counts[stage]]

    @property
    def open_count(self) -> int:
        return sum(1 for row in self.rows if row.stage in {str(s) for s in OPEN_STAGES})

    @property
    def oldest(self) -> PinRow | None:
        open_rows = [row for row in self.rows if row.stage in {str(s) for s in OPEN_STAGES}]
        return max(open_rows, key=lambda row: row.age_seconds) if open_rows else None


@dataclass(frozen=True)
class TimelineEntry:
    at: str
    ago: str
    event: str
    actor: str
    summary: str
    details_json: str


def _summary(event: str, details: dict[str, Any], limit: int = 160) -> str:
    """One line for the timeline; the full record is one click away."""
    verdict = details.get("verdict")
    if isinstance(verdict, dict):
        reasons = "; ".join(str(r) for r in verdict.get("reasons") or [])
        text = f"{details.get('step', '')}: {verdict.get('outcome', '')}" + (
            f" ({reasons})" if reasons else ""
        )
    else:
        parts = []
        for key in sorted(details):
            if key == "verdicts":
                continue
            value = details[key]
            shown = value if isinstance(value, str) else json.dumps(jsonable(value), sort_keys=True)
            parts.append(f"{key}={shown}")
        text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class PinView:
    row: PinRow
    pin: Pin
    fields: list[tuple[str, str]]
    approval: dict[str, Any] | None
    approval_pending: bool
    canaries: list[CanaryView]
    timeline: list[TimelineEntry]

    @classmethod
    def of(
        cls,
        pin: Pin,
        now: datetime,
        step: NextStep | None,
        approval: dict[str, Any] | None,
        records: Sequence[AuditRecord],
    ) -> PinView:
        pending = bool(approval and approval.get("status") == "pending")
        row = PinRow.of(pin, now, step, approval if pending else None)
        runtime = pin.pinned_runtime_version_arn
        if pin.pinned_runtime_version_name:
            runtime = f"{pin.pinned_runtime_version_name} ({runtime})"

        def hold(value: Any) -> str:
            return f"until {iso(value.until)} by {value.by}: {value.reason}" if value else ""

        fields = [
            ("Pin id", pin.key.id),
            ("Account / region", row.account_region),
            ("Pinned runtime", runtime),
            ("Pinned by", pin.pinned_by),
            ("Why pinned", pin.reason),
            ("First seen", f"{iso(pin.first_seen)} ({row.age} ago)"),
            ("Owner", pin.owner),
            ("Team", pin.team),
            ("Episode", f"generation {pin.generation}, round {pin.round}"),
            ("Snoozed", hold(pin.snooze)),
            ("Exempt", hold(pin.exemption)),
            ("Next", f"{row.next_label} {row.next_when}".strip()),
            ("Execution", pin.execution_arn),
        ]
        if approval:
            decided = (
                f", {approval.get('status')} by {approval.get('decided_by')}: "
                f"{approval.get('reason', '')}"
                if approval.get("decided_by")
                else ""
            )
            fields.append(
                (
                    "Approval",
                    f"{approval.get('approval_id')} {approval.get('status', '')}, "
                    f"expires {approval.get('expires_at', '?')}{decided}",
                )
            )
        if pin.outcome:
            fields.append(("Outcome", _summary("outcome", pin.outcome, limit=400)))
        canaries = []
        for slot, title in (("canary", "Canary"), ("last_canary", "Last canary (rolled back)")):
            state = pin.evidence.get(slot)
            if isinstance(state, dict):
                canaries.append(CanaryView.of(title, state, records))
        timeline = [
            TimelineEntry(
                at=iso(record.at),
                ago=format_relative(record.at, now),
                event=record.event,
                actor=record.actor,
                summary=_summary(record.event, record.details),
                details_json=json.dumps(jsonable(record.details), indent=2, sort_keys=True),
            )
            for record in records
        ]
        return cls(
            row=row,
            pin=pin,
            fields=[(label, value) for label, value in fields if value],
            approval=approval,
            approval_pending=pending,
            canaries=canaries,
            timeline=timeline,
        )


# ------------------------------------------------------------------------ the canary chart


@dataclass(frozen=True)
class ChartStep:
    """One judged bake: what the chart and the table under it show."""

    label: str
    at: str  # HH:MM of the judgement, from the audit trail ("" when unknown)
    weight: float | None
    outcome: str
    candidate_rate: float | None
    baseline_rate: float | None
    candidate_errors: int | None
    candidate_invocations: int | None
    baseline_errors: int | None
    baseline_invocations: int | None
    p_candidate_worse: float | None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def chart_steps(
    verdicts: Sequence[dict[str, Any]],
    judged_at: Sequence[datetime] = (),
    ended_at: datetime | None = None,
) -> list[ChartStep]:
    """The verdicts in order, with the time each was judged where the audit trail says.

    `judged_at` are the times of this canary's `judge N` audit records, oldest first, matched
    to the numbered verdicts from the end (the ledger keeps the last eight verdicts). The
    post-promotion verdict has no `judge` record: it was judged when the canary ended."""
    numbered = [v for v in verdicts if isinstance(v.get("step"), int | float)]
    times = list(judged_at)[-len(numbered) :] if numbered else []
    time_of = {
        id(verdict): moment.strftime("%H:%M")
        for verdict, moment in zip(numbered[-len(times) :] if times else [], times, strict=True)
    }
    steps = []
    for verdict in verdicts:
        step = verdict.get("step")
        numeric = isinstance(step, int | float)
        weight = _number(verdict.get("weight"))
        if weight is None and step == "post-promotion":
            weight = 1.0  # after promotion the candidate serves everything
        steps.append(
            ChartStep(
                label=f"step {step:g}" if isinstance(step, int | float) else str(step or "?"),
                at=time_of.get(id(verdict), "")
                or (ended_at.strftime("%H:%M") if ended_at and not numeric else ""),
                weight=weight,
                outcome=str(verdict.get("outcome", "")).lower(),
                candidate_rate=_number(verdict.get("candidate_error_rate")),
                baseline_rate=_number(verdict.get("baseline_error_rate")),
                candidate_errors=_count(verdict.get("candidate_errors")),
                candidate_invocations=_count(verdict.get("candidate_invocations")),
                baseline_errors=_count(verdict.get("baseline_errors")),
                baseline_invocations=_count(verdict.get("baseline_invocations")),
                p_candidate_worse=_number(verdict.get("p_candidate_worse")),
            )
        )
    return steps


# Tops of the error-rate axis, each with a division into round ticks.
RATE_AXES = (
    (0.001, 5),
    (0.002, 4),
    (0.005, 5),
    (0.01, 5),
    (0.02, 4),
    (0.05, 5),
    (0.1, 5),
    (0.2, 4),
    (0.5, 5),
    (1.0, 5),
)


def rate_axis(rates: Iterable[float]) -> tuple[float, int]:
    """The smallest round top of the error-rate axis that leaves headroom over every rate,
    and how many round ticks divide it."""
    highest = max(rates, default=0.0)
    return next((axis for axis in RATE_AXES if axis[0] >= highest * 1.15), RATE_AXES[-1])


def _tick_text(rate: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs (0.02%, 0.5%, 20%)."""
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    return f"{rate * 100:.{decimals}f}%"


@dataclass(frozen=True)
class ChartMark:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class ChartLabel:
    x: float
    y: float
    text: str
    css: str = ""


@dataclass(frozen=True)
class CanaryChart:
    """An SVG's geometry, computed here; the template only draws (and escapes) it."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    weight_area: str
    candidate_path: str
    baseline_path: str
    candidate_marks: list[ChartMark]
    baseline_marks: list[ChartMark]
    rate_ticks: list[ChartLabel]
    weight_ticks: list[ChartLabel]
    x_labels: list[ChartLabel]
    outcome_labels: list[ChartLabel]
    description: str


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _percent(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def _polyline(points: Sequence[tuple[float, float] | None]) -> str:
    """An SVG path through the points, lifting the pen at gaps (no data for a step)."""
    commands, pen_down = [], False
    for point in points:
        if point is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{_fmt(point[0])},{_fmt(point[1])}")
        pen_down = True
    return " ".join(commands)


def canary_chart(
    steps: Sequence[ChartStep], *, width: int = 720, height: int = 280
) -> CanaryChart | None:
    """Candidate vs baseline error rate (left axis) and traffic weight (right axis, shaded
    steps) for each judged bake, left to right in time."""
    if not steps:
        return None
    left, right, top, bottom = 64, width - 56, 36, height - 52
    plot_w, plot_h = right - left, bottom - top
    slot = plot_w / len(steps)
    top_rate, divisions = rate_axis(
        r for s in steps for r in (s.candidate_rate, s.baseline_rate) if r is not None
    )

    def x_at(index: int) -> float:
        return left + slot * (index + 0.5)

    def y_rate(rate: float) -> float:
        return bottom - plot_h * min(rate, top_rate) / top_rate

    def y_weight(weight: float) -> float:
        return bottom - plot_h * max(0.0, min(weight, 1.0))

    area = [f"M{_fmt(left)},{_fmt(bottom)}"]
    for index, step in enumerate(steps):
        y = y_weight(step.weight or 0.0)
        area.append(
            f"L{_fmt(left + slot * index)},{_fmt(y)} L{_fmt(left + slot * (index + 1))},{_fmt(y)}"
        )
    area.append(f"L{_fmt(right)},{_fmt(bottom)} Z")

    def series(
        rate_of: Callable[[ChartStep], float | None],
        counts_of: Callable[[ChartStep], tuple[int | None, int | None]],
        name: str,
    ) -> tuple[str, list[ChartMark]]:
        points: list[tuple[float, float] | None] = []
        marks = []
        for index, step in enumerate(steps):
            rate = rate_of(step)
            if rate is None:
                points.append(None)
                continue
            point = (x_at(index), y_rate(rate))
            points.append(point)
            errors, invocations = counts_of(step)
            counts = f" ({errors} of {invocations})" if invocations is not None else ""
            marks.append(
                ChartMark(point[0], point[1], f"{name} {step.label}: {_percent(rate)}{counts}")
            )
        return _polyline(points), marks

    candidate_path, candidate_marks = series(
        lambda s: s.candidate_rate,
        lambda s: (s.candidate_errors, s.candidate_invocations),
        "candidate",
    )
    baseline_path, baseline_marks = series(
        lambda s: s.baseline_rate,
        lambda s: (s.baseline_errors, s.baseline_invocations),
        "baseline",
    )
    rate_step = top_rate / divisions
    rate_ticks = [
        ChartLabel(left - 8, y_rate(rate_step * i), _tick_text(rate_step * i, rate_step))
        for i in range(divisions + 1)
    ]
    weight_ticks = [ChartLabel(right + 8, y_weight(i / 4), f"{i * 25}%") for i in range(5)]
    x_labels = []
    for index, step in enumerate(steps):
        weight = f" · {step.weight:.0%}" if step.weight is not None else ""
        x_labels.append(ChartLabel(x_at(index), bottom + 18, f"{step.label}{weight}"))
        if step.at:
            x_labels.append(ChartLabel(x_at(index), bottom + 34, step.at, "sub"))
    outcome_labels = [
        ChartLabel(x_at(index), top - 12, step.outcome, f"outcome-{step.outcome}")
        for index, step in enumerate(steps)
        if step.outcome
    ]
    description = "; ".join(
        f"{s.label}: weight {_percent(s.weight, 0)}, candidate {_percent(s.candidate_rate)}, "
        f"baseline {_percent(s.baseline_rate)}, {s.outcome}"
        for s in steps
    )
    return CanaryChart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        weight_area=" ".join(area),
        candidate_path=candidate_path,
        baseline_path=baseline_path,
        candidate_marks=candidate_marks,
        baseline_marks=baseline_marks,
        rate_ticks=rate_ticks,
        weight_ticks=weight_ticks,
        x_labels=x_labels,
        outcome_labels=outcome_labels,
        description=description,
    )


@dataclass(frozen=True)
class CanaryView:
    title: str
    facts: list[tuple[str, str]]
    steps: list[ChartStep]
    chart: CanaryChart | None
    # Behind a disclosure: the failure's own document (a trace, if any) and the raw evidence.
    failure_details: str = ""
    raw_evidence: str = ""

    @classmethod
    def of(cls, title: str, state: dict[str, Any], records: Sequence[AuditRecord]) -> CanaryView:
        # This canary's records: from its first traffic step to how it ended (a later
        # canary of the same pin has records of its own).
        started = _time(state.get("started_at"))
        ended = next(
            (
                record.at
                for record in records
                if record.event in CANARY_ENDINGS and (started is None or record.at >= started)
            ),
            None,
        )
        judged = [
            record.at
            for record in records
            if record.event == "canary_step"
            and str(record.details.get("step", "")).startswith("judge")
            and (started is None or record.at >= started)
            and (ended is None or record.at <= ended)
        ]
        verdicts = [v for v in state.get("verdicts") or [] if isinstance(v, dict)]
        steps = chart_steps(verdicts, judged, ended)
        because = failures.split_reason(str(state.get("rolled_back_because", "")))
        facts = [
            ("Strategy", str(state.get("strategy", ""))),
            ("Alias", str(state.get("alias", ""))),
            ("Baseline version", str(state.get("baseline_version", ""))),
            ("Candidate version", str(state.get("candidate_version", ""))),
            ("Candidate runtime", str(state.get("candidate_runtime_arn", ""))),
            ("Started", str(state.get("started_at", ""))),
            ("Next", str(state.get("next", ""))),
            ("Rolled back because", because.sentence),
            ("Restored", "; ".join(str(r) for r in state.get("restored") or [])),
        ]
        return cls(
            title=title,
            facts=[(label, value) for label, value in facts if value],
            steps=steps,
            chart=canary_chart(steps),
            failure_details=because.details,
            raw_evidence=json.dumps(state, indent=2, sort_keys=True, default=str),
        )


# ------------------------------------------------------------------------ the web app


class Sessions:
    """CSRF tokens this console issued, one per browser session (cookie).

    A POST must carry the same token in its cookie and its form, and the token must be one this
    process issued: a cookie planted by someone else is not enough.
    """

    def __init__(self, capacity: int = MAX_SESSIONS) -> None:
        self._issued: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._issued[token] = None
            while len(self._issued) > self._capacity:
                self._issued.popitem(last=False)
        return token

    def known(self, token: str) -> bool:
        with self._lock:
            return bool(token) and token in self._issued

    def valid(self, cookie: str, field: str) -> bool:
        return bool(cookie and field) and hmac.compare_digest(cookie, field) and self.known(cookie)


class Refusal(Exception):
    """A request the console answers with a page saying why (nothing was sent anywhere)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _same_origin(request: Request) -> bool:
    """What the browser says about where a POST comes from, when it says anything.

    Browsers send `Origin` on every form POST (with the `same-origin` referrer policy set
    here; `no-referrer` would make them send `Origin: null`), and `Sec-Fetch-Site`.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in {"same-origin", "none"}:
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
        claimed = (parts.hostname or "", parts.port or 80)
    except ValueError:
        return False
    return parts.scheme == "http" and claimed == _host_and_port(request)


def _host_and_port(request: Request) -> tuple[str, int]:
    """The `Host` the request was addressed to; ("", 0) when it is not a host[:port]."""
    try:
        parts = urlsplit(f"//{request.host}")
        return (parts.hostname or "", parts.port or 80)
    except ValueError:
        return ("", 0)


class ConsoleApp:
    """The WSGI application: routes, sessions, security headers, templates."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.sessions = Sessions()
        self.templates = Environment(
            loader=FileSystemLoader(STATIC_DIR / "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.routes = Map(
            [
                Rule("/", endpoint="fleet", methods=["GET"]),
                Rule("/pin", endpoint="pin", methods=["GET"]),
                Rule("/decide", endpoint="decide", methods=["POST"]),
                Rule("/static/<name>", endpoint="static", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        session = request.cookies.get(CSRF_COOKIE, "")
        new_session = None if self.sessions.known(session) else self.sessions.issue()
        token = new_session or session
        try:
            if not _is_loopback(_host_and_port(request)[0]):
                raise Refusal(
                    400,
                    "Not this host",
                    "The console answers only requests addressed to 127.0.0.1 or localhost.",
                )
            adapter = self.routes.bind_to_environ(request.environ)
            endpoint, arguments = adapter.match()
            handler = getattr(self, f"on_{endpoint}")
            response: Response = handler(request, token, **arguments)
        except Refusal as refusal:
            response = self.page(
                "message.html", token, refusal.status, title=refusal.title, message=refusal.message
            )
        except NotDeployed as error:
            response = self.page(
                "message.html", token, 503, title="Not deployed", message=str(error)
            )
        except (ClientError, BotoCoreError, requests.RequestException) as error:
            logger.warning("AWS call failed: %s", error)
            sentence, _ = explain(error)  # one sentence: no web page, trace or file path
            response = self.page(
                "message.html", token, 502, title="AWS did not answer", message=sentence
            )
        except HTTPException as error:
            response = self.page(
                "message.html",
                token,
                error.code or 500,
                title=error.name,
                message=error.description or "",
                headers={"Allow": ", ".join(error.valid_methods or [])}
                if isinstance(error, MethodNotAllowed)
                else None,
            )
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if new_session:
            response.set_cookie(
                CSRF_COOKIE, new_session, httponly=True, samesite="Strict", path="/"
            )
        return response

    def page(
        self,
        template: str,
        token: str,
        status: int = 200,
        *,
        headers: dict[str, str] | None = None,
        **values: Any,
    ) -> Response:
        values.setdefault("identity", "")
        html = self.templates.get_template(template).render(csrf_token=token, **values)
        return Response(html, status=status, mimetype="text/html", headers=headers)

    # -------------------------------------------------------------------- pages

    def on_fleet(self, request: Request, token: str) -> Response:
        include_closed = request.args.get("all") == "1"
        fleet = self.backend.fleet(include_closed=include_closed)
        return self.page("fleet.html", token, fleet=fleet, identity=self.backend.identity())

    def on_pin(self, request: Request, token: str) -> Response:
        pin_id = request.args.get("id", "")
        try:
            view = self.backend.pin(pin_id)
        except ValueError:
            raise Refusal(
                400, "Not a pin id", f"{pin_id!r} is not a pin id (ARN#QUALIFIER)."
            ) from None
        if view is None:
            raise Refusal(404, "No such pin", f"rollforward has no ledger item for {pin_id}.")
        return self.page("pin.html", token, view=view, identity=self.backend.identity())

    def on_static(self, request: Request, token: str, name: str) -> Response:
        if name not in STATIC_FILES:
            raise NotFound()
        response = Response((STATIC_DIR / name).read_bytes(), mimetype=STATIC_FILES[name])
        response.headers["Cache-Control"] = "no-cache"
        return response

    def on_decide(self, request: Request, token: str) -> Response:
        form = request.form
        if not _same_origin(request) or not self.sessions.valid(
            request.cookies.get(CSRF_COOKIE, ""), form.get(CSRF_FIELD, "")
        ):
            raise Refusal(
                403,
                "Form expired",
                "This form was not sent from this console session (missing or stale CSRF "
                "token). Nothing was sent. Reload the console and try again.",
            )
        decision = _read_decision(form)
        subject = self._subject(decision)
        if form.get("confirm") != "yes":
            return self.page(
                "confirm.html",
                token,
                decision=decision,
                subject=subject,
                identity=self.backend.identity(),
            )
        status, body = self.backend.decide(decision.fields)
        logger.info("%s %s: API answered %s", decision.action, decision.target_id, status)
        return self.page(
            "result.html",
            token,
            200 if status == 200 else (status if 400 <= status < 500 else 502),
            decision=decision,
            subject=subject,
            identity=self.backend.identity(),
            api_status=status,
            body=jsonable(body),
            refusal=str(body.get("refused") or body.get("message") or body)
            if status != 200
            else "",
        )

    def _subject(self, decision: DecisionForm) -> Subject:
        """What the decision is about, restated on the confirmation and result pages."""
        if decision.action in HOLD_ACTIONS:
            key = PinKey.from_id(decision.target_id)
            return Subject(key.function_name, key.qualifier, decision.target_id, "", "")
        record = self.backend.approval_subject(decision.target_id)
        if record is None:
            raise Refusal(404, "No such approval", f"There is no approval {decision.target_id}.")
        pin_id = str(record.get("pin_id", ""))
        try:
            key = PinKey.from_id(pin_id)
            name, qualifier = key.function_name, key.qualifier
        except ValueError:
            name, qualifier = pin_id, ""
        status = str(record.get("status", ""))
        note = ""
        if status != "pending":
            by = record.get("decided_by")
            note = f"This approval is {status}" + (f" (by {by})" if by else "") + "."
        return Subject(name, qualifier, pin_id, str(record.get("expires_at", "")), note)


@dataclass(frozen=True)
class Subject:
    function_name: str
    qualifier: str
    pin_id: str
    expires_at: str
    note: str


@dataclass(frozen=True)
class DecisionForm:
    """A validated decision form: what will be POSTed to the decision API."""

    action: str
    target_id: str  # the approval id (approve / reject) or the pin id (snooze / exempt)
    reason: str
    until: str = ""

    @property
    def past(self) -> str:
        return PAST_TENSE[self.action]

    @property
    def fields(self) -> dict[str, str]:
        if self.action in HOLD_ACTIONS:
            return {
                "action": self.action,
                "pin_id": self.target_id,
                "until": self.until,
                "reason": self.reason,
            }
        return {"action": self.action, "approval_id": self.target_id, "reason": self.reason}


def _read_decision(form: Any) -> DecisionForm:
    """Validate a decision form on the server (the browser's `required` is a courtesy)."""
    action = form.get("action", "")
    if action not in DECISION_ACTIONS + HOLD_ACTIONS:
        raise Refusal(
            400, "Unknown action", "The action must be approve, reject, snooze or exempt."
        )
    reason = form.get("reason", "").strip()
    if not reason:
        raise Refusal(
            400,
            "A reason is required",
            f"Say why you {action}: the reason goes into the audit trail. Nothing was sent.",
        )
    if len(reason) > MAX_REASON:
        raise Refusal(
            400, "Reason too long", f"The reason is {len(reason)} characters; at most {MAX_REASON}."
        )
    if action in DECISION_ACTIONS:
        approval_id = form.get("approval_id", "").strip()
        if (
            not approval_id.startswith("apr-")
            or len(approval_id) > 80
            or any(c.isspace() for c in approval_id)
        ):
            raise Refusal(400, "Not an approval id", "Approval ids look like apr-<32 hex digits>.")
        return DecisionForm(action, approval_id, reason)
    pin_id = form.get("pin_id", "")
    try:
        PinKey.from_id(pin_id)
    except ValueError:
        raise Refusal(400, "Not a pin id", "The pin id must look like ARN#QUALIFIER.") from None
    try:
        until = check_until(form.get("until", ""))
    except UsageError:
        raise Refusal(
            400,
            "Until when?",
            "'Until' must be a duration from now (3d, 12h, 1d12h) or an ISO date or date/time "
            "with a zone (2026-12-24, 2026-12-24T09:00:00Z). Nothing was sent.",
        ) from None
    return DecisionForm(action, pin_id, reason, until)
