"""What every command shares: exit codes, errors, the lazily built AWS context, the emulator's
control client and turning `FUNCTION [--qualifier]` into one pin.

Nothing here talks to AWS until a command asks for it, so argument errors are reported
(exit 2) before any network call, and `--help` works with no AWS configuration at all.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.exceptions import ClientError
from rollforward.adapters.cloudwatch_audit import CloudWatchAuditTrail as AuditTrail
from rollforward.adapters.dynamodb_approvals import DynamoApprovalStore
from rollforward.adapters.dynamodb_ledger import DynamoLedger as Ledger
from rollforward.adapters.executions import StepFunctionsExecutions
from rollforward.approvals import reason_problem
from rollforward.approvals.service import Approvals
from rollforward.clock import parse_iso, utc_now
from rollforward.ledger import Pin
from rollforward.model import LATEST, QUALIFIER, PinKey
from rollforward.policy import Policy, PolicyError, resolve_until

from ..aws import (
    DecisionClient,
    Target,
    discover,
    resolve_target,
)
from ..render import Output

# Exit codes: the contract scripts rely on.
EXIT_OK = 0
EXIT_FAILED = 1  # the action was refused or failed
EXIT_USAGE = 2  # bad arguments: nothing was sent anywhere
EXIT_UNREACHABLE = 3  # rollforward is not deployed there, or AWS/the emulator cannot be reached

CONTROL_PREFIX = "/_rollforward/"


class CliError(Exception):
    """A failure to report as one line on stderr, with `exit_code`."""

    exit_code = EXIT_FAILED


class UsageError(CliError):
    exit_code = EXIT_USAGE


class ActionFailed(CliError):
    exit_code = EXIT_FAILED


class Unreachable(CliError):
    exit_code = EXIT_UNREACHABLE


@dataclass(frozen=True)
class GlobalOptions:
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    emulator: bool = False
    output: str = "table"
    stack: str | None = None


def emulator_hint(endpoint: str) -> str:
    return f"no emulator at {endpoint}; start one with `rollforward emulator`"


def ensure_reachable(endpoint: str, *, emulator: bool, timeout: float = 3.0) -> None:
    """Fail fast (exit 3) when nothing listens at a custom endpoint.

    botocore retries refused connections with backoff for most of a minute; for a local
    emulator that is not running, one TCP connect says so at once.
    """
    parts = urlsplit(endpoint)
    if not parts.hostname:
        raise UsageError(f"--endpoint-url {endpoint!r} is not a URL like http://127.0.0.1:4566")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as error:
        if emulator:
            raise Unreachable(emulator_hint(endpoint)) from None
        raise Unreachable(f"cannot reach {endpoint}: {error}") from None


def call_control(
    endpoint: str, name: str, arguments: dict[str, Any], *, timeout: float = 30.0
) -> dict[str, Any]:
    """POST to the running emulator's `/_rollforward/<name>` control route."""
    url = f"{endpoint.rstrip('/')}{CONTROL_PREFIX}{name}"
    try:
        response = requests.post(url, json=arguments, timeout=timeout)
    except requests.ConnectionError:
        raise Unreachable(emulator_hint(endpoint)) from None
    except requests.Timeout:
        raise ActionFailed(
            f"the emulator at {endpoint} did not finish {name} within {timeout:.0f}s"
        ) from None
    try:
        body = response.json()
    except ValueError:  # not one of our routes answering (an HTML error page, a proxy)
        body = {"message": response.reason}
    if not isinstance(body, dict):
        body = {"result": body}
    status = response.status_code
    if status == 404 and "known" not in body:
        raise Unreachable(f"{endpoint} is not a rollforward emulator (no {CONTROL_PREFIX} routes)")
    if status != 200:
        verb = "refused" if 400 <= status < 500 else "failed"
        raise ActionFailed(
            f"the emulator {verb} {name} ({status}): {body.get('message') or response.reason}"
        )
    return body


class Context:
    """The AWS target and rollforward's deployed resources, each built on first use."""

    def __init__(self, options: GlobalOptions, out: Output) -> None:
        self.options = options
        self.out = out

    @cached_property
    def target(self) -> Target:
        target = resolve_target(
            self.options.profile,
            self.options.region,
            self.options.endpoint_url,
            self.options.emulator,
        )
        if target.endpoint_url:
            ensure_reachable(
                target.endpoint_url, emulator=self.options.emulator or target.is_emulator
            )
        return target

    @cached_property
    def discovery(self) -> dict[str, Any]:
        return discover(self.target, self.options.stack)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.target.table(self.discovery["ledger_table"]))

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.target.client("logs"), self.discovery["audit_log_group"])

    @cached_property
    def approvals(self) -> Approvals:
        """Read side only (`pending`, `get`): decisions go through the decision API."""
        return Approvals(
            store=DynamoApprovalStore(self.target.table(self.discovery["approvals_table"])),
            ledger=self.ledger,
            executions=StepFunctionsExecutions(self.target.client("stepfunctions"), ""),
            audit=self.audit,
            policy=self.policy,
        )

    @cached_property
    def decisions(self) -> DecisionClient:
        return DecisionClient(self.target, self.discovery)

    @cached_property
    def policy(self) -> Policy:
        """The policy in force: the tracking function's `POLICY`, as the workflow reads it."""
        function = self.discovery.get("tracking_function", "")
        try:
            configuration = self.target.client("lambda").get_function_configuration(
                FunctionName=function
            )
            text = configuration.get("Environment", {}).get("Variables", {}).get("POLICY", "")
            return Policy.from_json(text) if text else Policy.default()
        except (ClientError, PolicyError) as error:
            self.out.note(
                f"warning: cannot read the policy in force from {function or 'the tracking function'}"
                f" ({' '.join(str(error).split())[:200]}); next escalations assume the default policy"
            )
            return Policy.default()

    def now(self) -> datetime:
        """Now, as the target sees it: a served emulator's virtual clock (its control route),
        else `rollforward.clock` — this machine's clock, or the virtual one when the command
        runs in the process that holds an embedded AWS (the demo's `rollforward report`)."""
        endpoint = self.target.endpoint_url
        if endpoint and self.target.is_emulator:
            try:
                answer = requests.post(
                    f"{endpoint.rstrip('/')}{CONTROL_PREFIX}clock/now", timeout=5
                )
                if answer.status_code == 200:
                    return parse_iso(str(answer.json()["now"]))
            except (requests.RequestException, ValueError, KeyError, TypeError):
                pass
        return utc_now()


class TargetContext(Context):
    """The same context on a target given rather than resolved from options (the console;
    tests that run a command in the process that holds the embedded AWS)."""

    def __init__(self, target: Target, out: Output | None = None) -> None:
        super().__init__(GlobalOptions(), out or Output("table", sys.stderr, sys.stderr))
        self._given_target = target

    @cached_property
    def target(self) -> Target:
        return self._given_target


# ------------------------------------------------------------------------ arguments


def check_reason(reason: str) -> str:
    """The decision API's rule (`rollforward.approvals.reason_problem`), checked before
    anything is sent."""
    problem = reason_problem(reason or "")
    if problem is not None:
        raise UsageError(f"--reason: {problem}; say why, it goes into the audit trail")
    return reason.strip()


def check_until(text: str) -> str:
    """Validate `--until` locally (format only); the decision API resolves it on its own clock.

    Accepted as the API accepts them: a duration (`3d`, `1d12h`, `P3D`) from now, an ISO date
    (`2026-12-24`, midnight UTC) or an ISO date/time with a zone (`2026-12-24T09:00:00Z`).
    Whether the end is in the future and within `approval.max_snooze` is the API's call.
    """
    value = (text or "").strip()
    try:
        resolve_until(value, datetime.now(UTC))
    except ValueError as error:
        raise UsageError(f"--until: {error}") from None
    return value


def normalize_qualifier(text: str | None) -> str | None:
    """`$LATEST`, `LATEST`/`latest` (no shell quoting needed) or a version number."""
    if text is None or text == "":
        return None
    value = LATEST if text.upper() in {"LATEST", "$LATEST"} else text
    if not QUALIFIER.match(value):
        raise UsageError(
            f"qualifier {text!r} is not $LATEST or a version number; runtime settings are per "
            "version, so pins are too (resolve an alias to its version first)"
        )
    return value


@dataclass(frozen=True)
class FunctionRef:
    """What the user typed for FUNCTION: a name or an unqualified ARN, maybe a qualifier."""

    text: str
    name: str | None
    function_arn: str | None
    qualifier: str | None

    @property
    def key(self) -> PinKey | None:
        """The exact pin, when both the ARN and the qualifier are known."""
        if self.function_arn and self.qualifier:
            return PinKey(self.function_arn, self.qualifier)
        return None

    def matches(self, pin: Pin) -> bool:
        if self.function_arn and pin.key.function_arn != self.function_arn:
            return False
        if self.name and pin.key.function_name != self.name:
            return False
        return self.qualifier is None or pin.key.qualifier == self.qualifier


def parse_function_ref(text: str, qualifier: str | None = None) -> FunctionRef:
    """`orders`, `orders:3`, `arn:aws:lambda:…:function:orders[:3]` or a pin id `…#$LATEST`."""
    value = (text or "").strip()
    if not value:
        raise UsageError("FUNCTION must not be empty")
    flag = normalize_qualifier(qualifier)
    embedded: str | None = None
    arn: str | None = None
    name: str | None = None
    if "#" in value:
        arn, _, embedded = value.rpartition("#")
    elif value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) not in (7, 8) or parts[5] != "function" or not parts[6]:
            raise UsageError(f"{value!r} is not a Lambda function ARN")
        arn = ":".join(parts[:7])
        embedded = parts[7] if len(parts) == 8 else None
    else:
        name, sep, rest = value.partition(":")
        embedded = rest if sep else None
        if not name or ":" in rest:
            raise UsageError(f"{value!r} is not a function name, name:qualifier or ARN")
    if arn is not None:
        try:
            PinKey(arn)
        except ValueError as error:
            raise UsageError(str(error)) from None
    from_text = normalize_qualifier(embedded) if embedded is not None else None
    if flag and from_text and flag != from_text:
        raise UsageError(f"{value!r} names qualifier {from_text} but --qualifier says {flag}")
    return FunctionRef(value, name, arn, flag or from_text)


def choose_pin(ref: FunctionRef, pins: Iterable[Pin]) -> Pin:
    """The one pin `ref` means. Prefers an open episode over closed ones of other versions.

    Raises ActionFailed when none matches, UsageError (listing the candidates) when several do.
    """
    matches = [pin for pin in pins if ref.matches(pin)]
    if len(matches) > 1:
        open_matches = [pin for pin in matches if pin.is_open]
        if len(open_matches) == 1:
            return open_matches[0]
        matches = open_matches or matches
    if not matches:
        raise ActionFailed(f"no pin matches {ref.text!r} (`rollforward status --all` lists them)")
    if len(matches) > 1:
        candidates = ", ".join(sorted(pin.key.id for pin in matches))
        qualifiers = {pin.key.qualifier for pin in matches}
        hint = "pass --qualifier" if len(qualifiers) > 1 else "pass the function ARN"
        raise UsageError(f"{ref.text!r} matches {len(matches)} pins ({candidates}): {hint}")
    return matches[0]


def resolve_pin(context: Context, ref: FunctionRef, *, open_only: bool) -> Pin:
    """Read the exact ledger item when the ref names one, else search the ledger."""
    if ref.key is not None:
        pin = context.ledger.get(ref.key)
        if pin is None or (open_only and not pin.is_open):
            state = "no ledger item" if pin is None else f"its pin is {pin.stage}"
            raise ActionFailed(f"{ref.key.id} is not a tracked pin ({state})")
        return pin
    return choose_pin(ref, context.ledger.list_pins(open_only=open_only))
