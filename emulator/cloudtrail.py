"""CloudTrail → EventBridge: each control-plane call becomes an `AWS API Call via CloudTrail`
event on the account's default bus, delivered to the targets of every matching rule; and
EventBridge `PutEvents`, delivered the same way.

rollforward learns that someone pinned a function from exactly this event
(`PutRuntimeManagementConfig*` on `aws.lambda`), so the emulator builds it the way CloudTrail
does and delivers it the way EventBridge does. moto has neither half: nothing emits CloudTrail
events, and its EventBridge cannot start a Step Functions execution (`PutEvents` answers 500).
Here:

- `install()` listens to `STATE.api_call_listeners` (published by `emulator.lambda_api` after each
  successful mutating call) and delivers `cloudtrail_event(call)`; it also routes moto's
  `PutEvents` (`Rule.send_to_targets`) through the same delivery, on any bus;
- delivery matches every ENABLED rule of the bus with moto's own pattern matcher when the event
  is put, shapes each target's input (`Input`, `InputPath` or `InputTransformer`, as EventBridge
  does) and sends it **after the API call has returned**, on a pool of delivery workers, as
  EventBridge does: Step Functions → `StartExecution` through moto's backend (its interpreter
  runs it); Lambda → an `Event` invocation through the same path as boto3 `Invoke`; SQS, SNS
  and CloudWatch Logs → moto's backends. Other target types are skipped with a warning
  (archives and event-bus targets of `PutEvents` stay with moto).
- `put_cloudtrail_event(event)` delivers any event, replayed or malformed, for tests and the CLI.
- `STATE.drain()` waits until every delivery submitted so far, and those it caused, is done:
  tests and the demo wait on it rather than sleeping.

A delivery failure never fails the API call that caused it, and a call never waits for the
handler its event runs (a handler calling back into the emulator cannot deadlock it).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.utils import get_backend as lambda_backend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.events.models import Rule, events_backends
from moto.logs.models import logs_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.stepfunctions.responses import get_backend as stepfunctions_backend

from emulator import traffic, trails
from emulator.functions import process_environment
from emulator.state import STATE, ApiCall

DETAIL_TYPE = "AWS API Call via CloudTrail"
EVENT_VERSION = "1.09"
SOURCE_IP_ADDRESS = "127.0.0.1"
USER_AGENT = "rollforward-embedded-aws"
DEFAULT_BUS = "default"
# Variables EventBridge defines for every InputTemplate.
_RULE_ARN = "aws.events.rule-arn"
_RULE_NAME = "aws.events.rule-name"
_EVENT = "aws.events.event"
_EVENT_JSON = "aws.events.event.json"
_INGESTION_TIME = "aws.events.event.ingestion-time"

_PATH_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
# What `json_path` answers when the event has nothing at the path.
ABSENT: Any = object()

# Deliveries in flight at once (EventBridge and Lambda's async invocations run in parallel; a
# handful is enough to keep one slow handler from holding up every other delivery).
DELIVERY_WORKERS = 8
# Target services delivered here (event buses of this or another account included); moto
# keeps archives and API destinations.
DELIVERED_SERVICES = frozenset({"states", "lambda", "sqs", "sns", "logs", "events"})
EVENTS_PRINCIPAL = "events.amazonaws.com"
# The account a PutEvents to another account's bus came from (the event keeps it).
_SENDER = threading.local()

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_installed = False


class DeliveryQueue:
    """Work that runs after the API call that caused it has returned, on worker threads.

    `drain` waits (on a condition, not by polling) until every item submitted so far is done,
    including items submitted while it waits (a delivery whose handler causes another).
    `discard_pending` drops what has not started yet (the emulator was reset).
    """

    def __init__(self, workers: int = DELIVERY_WORKERS) -> None:
        self._size = workers
        self._items: queue.Queue[tuple[int, Callable[[], None]]] = queue.Queue()
        self._generation = 0
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def submit(self, work: Callable[[], None]) -> None:
        self._ensure_workers()
        self._items.put((self._generation, work))

    def drain(self, timeout: float) -> bool:
        if getattr(self._local, "is_worker", False):
            raise RuntimeError("a delivery cannot wait for deliveries: it would wait for itself")
        deadline = time.monotonic() + timeout
        done = self._items.all_tasks_done
        with done:
            while self._items.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                done.wait(remaining)
        return True

    def discard_pending(self) -> None:
        with self._lock:
            self._generation += 1

    @property
    def pending(self) -> int:
        """Items submitted and not finished (queued or running)."""
        return self._items.unfinished_tasks

    def _ensure_workers(self) -> None:
        with self._lock:
            if self._workers:
                return
            # Workers belong to "AWS": they never run in a handler's environment.
            with process_environment():
                for index in range(self._size):
                    worker = threading.Thread(
                        target=self._work, name=f"eventbridge-delivery-{index}", daemon=True
                    )
                    worker.start()
                    self._workers.append(worker)

    def _work(self) -> None:
        self._local.is_worker = True
        while True:
            generation, work = self._items.get()
            try:
                if generation == self._generation:
                    work()
            except Exception:
                logger.exception("an EventBridge delivery failed")
            finally:
                self._items.task_done()


DELIVERIES = DeliveryQueue()


class UnsupportedTarget(Exception):
    """A rule target whose service the emulator does not deliver to."""


def cloudtrail_event(call: ApiCall) -> dict[str, Any]:
    """The EventBridge event CloudTrail emits for `call`, stamped with the virtual clock."""
    now = _iso(STATE.clock.now())
    service = call.event_source.split(".", 1)[0]  # "lambda.amazonaws.com" -> "lambda"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": f"aws.{service}",
        "account": call.account_id,
        "time": now,
        "region": call.region,
        "resources": [],
        "detail": {
            "eventVersion": EVENT_VERSION,
            "userIdentity": dict(call.user_identity),
            "eventTime": now,
            "eventSource": call.event_source,
            "eventName": call.event_name,
            "awsRegion": call.region,
            "sourceIPAddress": call.source_ip_address or SOURCE_IP_ADDRESS,
            "userAgent": call.user_agent or USER_AGENT,
            "requestParameters": call.request_parameters,
            "responseElements": call.response_elements,
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": call.account_id,
            "eventCategory": "Management",
        },
    }


def put_cloudtrail_event(event: Mapping[str, Any]) -> int:
    """Deliver `event` to the default bus of its `account` and `region`; the number of rule
    targets it matched (each is sent after this returns, as EventBridge sends it).

    Accepts what PutEvents accepts: `source` and `detail-type` strings and an object `detail`
    (ValueError otherwise); the rest of the envelope is filled in when missing (a fresh `id`,
    the virtual time, moto's default account, the default region). The detail itself is not
    checked, so replayed duplicates and malformed CloudTrail records reach the targets as is.
    """
    if not isinstance(event, Mapping):
        raise ValueError("an event is a JSON object")
    for key in ("source", "detail-type"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise ValueError(f"event {key!r} must be a non-empty string")
    if not isinstance(event.get("detail"), Mapping):
        raise ValueError("event 'detail' must be a JSON object")
    complete: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "account": DEFAULT_ACCOUNT_ID,
        "time": _iso(STATE.clock.now()),
        "region": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        "resources": [],
    }
    complete.update(json.loads(json.dumps(event)))  # a private, JSON-only copy
    return _deliver(complete)


def target_input(target: Mapping[str, Any], event: Mapping[str, Any], rule: Rule) -> str:
    """The text EventBridge sends `target` for `event`: its `Input`, the value at its
    `InputPath`, its `InputTransformer` rendered, or else the whole event as JSON."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        value = json_path(event, str(target["InputPath"]))
        return json.dumps(None if value is ABSENT else value)
    transformer = target.get("InputTransformer")
    if transformer:
        variables: dict[str, Any] = {
            _RULE_ARN: rule.arn,
            _RULE_NAME: rule.name,
            _EVENT: event,
            _EVENT_JSON: event,
            _INGESTION_TIME: _iso(STATE.clock.now()),
        }
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            variables[name] = json_path(event, str(path))
        return render_input_template(str(transformer["InputTemplate"]), variables)
    return json.dumps(event)


def json_path(document: Any, path: str) -> Any:
    """The value at an EventBridge JSONPath (`$`, `$.detail.x`, `$.resources[0]`), or `ABSENT`
    when the event has nothing there. Wildcards and bracketed names are refused (ValueError)."""
    if not path.startswith("$"):
        raise ValueError(f"JSONPath must start with '$': {path!r}")
    value = document
    position = 1
    for match in _PATH_SEGMENT.finditer(path, 1):
        if match.start() != position:
            break
        position = match.end()
        key, index = match.groups()
        if key == "*":
            raise ValueError(f"wildcards are not supported in JSONPath {path!r}")
        if key is not None:
            if not isinstance(value, Mapping) or key not in value:
                return ABSENT
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return ABSENT
            value = value[int(index)]
    if position != len(path):
        raise ValueError(f"unsupported JSONPath {path!r}: use dot notation and [n] indices")
    return value


def render_input_template(template: str, variables: Mapping[str, Any]) -> str:
    """Fill `<name>` placeholders as EventBridge does.

    In a JSON template (one starting with `{`, `[` or `"`), a placeholder outside a string takes
    the value as JSON (`"RUNNING"`, `3`, `{...}`); inside a string it takes the bare text,
    unescaped, as EventBridge does. In a plain-text template every value goes in as bare text.
    A variable whose path is absent from the event gives `null` (empty text inside a string).
    `<aws.events.event.json>` is always the event's JSON text. Unknown `<...>` stay literal.
    """
    json_mode = template.lstrip()[:1] in ("{", "[", '"')
    out: list[str] = []
    in_string = escaped = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match and match.group(1) in variables:
                name = match.group(1)
                bare = in_string or not json_mode
                out.append(_placeholder_text(name, variables[name], bare))
                position = match.end()
                continue
        out.append(char)
        if json_mode:
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
        position += 1
    return "".join(out)


def install() -> None:
    """Deliver every published ApiCall, and route `PutEvents` through the same delivery.
    Lambda targets are invoked through `emulator.traffic`'s routing (project handlers in
    process, fleet functions simulated), so that is installed too."""
    global _installed, _moto_send_to_targets
    with _lock:
        if _installed:
            return
        traffic.install()
        if _on_api_call not in STATE.api_call_listeners:
            STATE.api_call_listeners.append(_on_api_call)
        if DELIVERIES not in STATE.background:
            STATE.background.append(DELIVERIES)
        _moto_send_to_targets = Rule.send_to_targets
        Rule.send_to_targets = _send_put_event_to_targets  # type: ignore[method-assign,assignment]
        from moto.events.models import EventsBackend

        EventsBackend.put_events = _put_events_across_accounts(EventsBackend.put_events)  # type: ignore[method-assign]
        _installed = True


# --- delivery -----------------------------------------------------------------------------

_moto_send_to_targets: Callable[..., None] | None = None


def _on_api_call(call: ApiCall) -> None:
    try:
        # EventBridge gets CloudTrail's events only while a trail records them (trails.py).
        if not trails.records_management_writes(call.account_id, call.region):
            logger.debug(
                "no logging trail in %s/%s: %s not delivered",
                call.account_id,
                call.region,
                call.event_name,
            )
            return
        _deliver(cloudtrail_event(call))
    except Exception:  # EventBridge is asynchronous: the API call has succeeded regardless
        logger.exception("delivering the CloudTrail event for %s failed", call.event_name)


def _deliver(event: dict[str, Any], bus_arn: str | None = None, *, name: str = DEFAULT_BUS) -> int:
    """Match `event` against the rules of its account's default bus (or of the bus `bus_arn`,
    where a rule forwarded it) now; send to each target later."""
    account, region = str(event.get("account")), str(event.get("region"))
    if bus_arn is not None:
        _, _, _, region, account, resource = bus_arn.split(":", 5)
        name = resource.removeprefix("event-bus/")
    try:
        bus = events_backends[account][region].event_buses[name]
    except KeyError:
        logger.warning("no event bus %s in %s/%s", name, account, region)
        return 0
    matched = 0
    for rule in list(bus.rules.values()):
        if not _is_enabled(rule):
            continue
        if not rule.event_pattern.get_pattern():  # a schedule-only rule, or one without pattern
            continue
        if not rule.event_pattern.matches_event(event):  # type: ignore[arg-type]
            continue
        for target in list(rule.targets):
            if _submit(rule, target, event):
                matched += 1
    return matched


def _send_put_event_to_targets(
    self: Rule, original_event: dict[str, Any], transform_input: bool = True
) -> None:
    """Replacement for moto's `Rule.send_to_targets`, called by its `PutEvents` per rule of the
    bus: the targets rollforward uses are sent as the CloudTrail path sends them; archives and
    event-bus targets stay with moto."""
    if not _is_enabled(self) or not self.event_pattern.matches_event(original_event):  # type: ignore[arg-type]
        return
    event = _as_delivered(original_event)
    sender = getattr(_SENDER, "account", None)
    if sender:
        event["account"] = sender  # an event put on another account's bus keeps its own
    for target in list(self.targets):
        if _service_of(str(target.get("Arn", ""))) in DELIVERED_SERVICES:
            _submit(self, target, event)
        else:
            assert _moto_send_to_targets is not None
            single = copy.copy(self)
            single.targets = [target]
            _moto_send_to_targets(single, original_event, transform_input)


def _as_delivered(moto_event: Mapping[str, Any]) -> dict[str, Any]:
    """moto's PutEvents message as EventBridge delivers it: `time` in ISO 8601 (moto keeps
    epoch seconds), no `ingestion-time` member."""
    event = {k: v for k, v in json.loads(json.dumps(moto_event)).items() if k != "ingestion-time"}
    moment = event.get("time")
    if isinstance(moment, int | float):
        event["time"] = _iso(datetime.fromtimestamp(moment, UTC))
    return event


def _submit(rule: Rule, target: Mapping[str, Any], event: dict[str, Any]) -> bool:
    """Queue the delivery of `event` to `target`; False (with a warning) for a target the
    emulator cannot deliver to or whose input cannot be shaped."""
    arn = str(target.get("Arn", ""))
    if _service_of(arn) not in DELIVERED_SERVICES:
        logger.warning("rule %s: the embedded AWS does not deliver to %s", rule.name, arn)
        return False
    # The input is shaped when the event is put, as EventBridge does (`ingestion-time` is now).
    try:
        payload = target_input(target, event, rule)
    except Exception:
        logger.exception("rule %s: the input of target %s is invalid", rule.name, arn)
        return False
    target = dict(target)

    def send() -> None:
        try:
            _send(target, payload, rule)
        except Exception:
            logger.exception("rule %s could not deliver to %s", rule.name, arn)

    DELIVERIES.submit(send)
    return True


def _service_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def _is_enabled(rule: Rule) -> bool:
    return str(rule.state).startswith("ENABLED")


def _send(target: Mapping[str, Any], payload: str, rule: Rule | None = None) -> None:
    arn = str(target["Arn"])
    parts = arn.split(":", 5)
    if len(parts) != 6:
        raise UnsupportedTarget(f"not an ARN: {arn}")
    _, _, service, region, account, resource = parts
    if rule is not None:
        refusal = _refusal(rule, target, service, arn)
        if refusal:
            logger.warning("rule %s: invoking %s failed: %s", rule.name, arn, refusal)
            _count_failed_invocation(rule)
            return
    if service == "events" and resource.startswith("event-bus/"):
        # The event itself goes on (an input transformer does not apply to a bus target).
        _deliver(json.loads(payload), bus_arn=arn)
    elif service == "states":
        backend = stepfunctions_backend(account, region)
        backend.start_execution(arn, str(uuid.uuid4()), payload)
    elif service == "lambda":
        headers = {"X-Amz-Invocation-Type": "Event"}
        lambda_backend(account, region).invoke(arn, None, payload, headers, {})
    elif service == "sqs":
        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        sqs_backends[account][region].send_message(
            queue_name=resource, message_body=payload, group_id=group_id
        )
    elif service == "sns":
        sns_backends[account][region].publish(message=payload, arn=arn)
    elif service == "logs" and resource.startswith("log-group:"):
        group_name = resource.removeprefix("log-group:").removesuffix(":*")
        _send_to_log_group(account, region, group_name, payload)
    else:
        raise UnsupportedTarget(f"the embedded AWS does not deliver to {service} targets ({arn})")


def _refusal(rule: Rule, target: Mapping[str, Any], service: str, arn: str) -> str:
    """Why EventBridge cannot invoke `target` for `rule` ("" when it can). A target with a
    `RoleArn` is invoked as that role: EventBridge must be trusted to assume it and the role
    must allow the call (EventBridge User Guide, "Using IAM roles to invoke targets"); an event
    bus of another account must admit the sender in its resource-based policy ("Sending and
    receiving events between AWS accounts")."""
    from emulator import iam
    from emulator import resource_policies as rp

    rule_account, region = str(rule.account_id), str(rule.region_name)
    role = str(target.get("RoleArn") or "")
    # Targets EventBridge invokes as their RoleArn; Lambda, SNS, SQS and Logs targets are
    # authorized by their own resource-based policies instead ("Using resource-based policies
    # for Amazon EventBridge").
    action = {"states": "states:StartExecution", "events": "events:PutEvents"}.get(service, "")
    if role and action and iam.ENFORCEMENT.enabled:
        source = {"aws:SourceArn": str(rule.arn), "aws:SourceAccount": rule_account}
        if not iam.service_may_assume(role, EVENTS_PRINCIPAL, region, source):
            return f"{EVENTS_PRINCIPAL} may not assume {role} (its trust policy)"
        if not iam.role_allows(role, action, arn, region):
            return f"{role} is not allowed {action} on {arn}"
    if service == "lambda" and iam.ENFORCEMENT.enabled:
        # A Lambda target is invoked as the service: the function's resource-based policy must
        # allow events.amazonaws.com (CDK adds it as AWS::Lambda::Permission with SourceArn).
        principal = rp.Principal(rule_account, service=EVENTS_PRINCIPAL)
        context = rp.principal_context(
            principal,
            region,
            {"aws:SourceArn": str(rule.arn), "aws:SourceAccount": rule_account},
        )
        decision = rp.decide(rp.policy_of(arn), principal, "lambda:InvokeFunction", arn, context)
        if decision.effect != rp.ALLOW:
            return f"the resource-based policy of {arn} does not allow {EVENTS_PRINCIPAL}"
    if service == "events" and iam.ENFORCEMENT.enabled:
        owner = rp.account_of(arn)
        if owner and owner != rule_account:
            principal = rp.Principal(rule_account, arn=role) if role else rp.Principal(rule_account)
            decision = rp.decide(
                rp.policy_of(arn),
                principal,
                "events:PutEvents",
                arn,
                rp.principal_context(principal, region),
            )
            if decision.effect != rp.ALLOW:
                return f"the policy of {arn} does not admit account {rule_account}"
    return ""


def _count_failed_invocation(rule: Rule) -> None:
    """`AWS/Events` `FailedInvocations` (dimension `RuleName`), as EventBridge counts an
    invocation that failed permanently."""
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[str(rule.account_id)][str(rule.region_name)].put_metric_data(
        namespace="AWS/Events",
        metric_data=[
            {
                "MetricName": "FailedInvocations",
                "Value": 1.0,
                "Unit": "Count",
                "Timestamp": STATE.clock.now(),
                "Dimensions": [{"Name": "RuleName", "Value": rule.name}],
            }
        ],
    )


def _put_events_across_accounts(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto resolves an `EventBusName` ARN in the caller's own account; AWS puts the event on
    that account's bus (authorized by its policy, emulator.iam), keeping the sender's account."""
    from emulator import resource_policies as rp

    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(events) > 10:
            return list(original(self, events))  # moto's own validation error
        results: list[dict[str, Any]] = []
        for event in events:
            name = str(event.get("EventBusName") or "")
            owner = rp.account_of(name)
            parts = name.split(":")
            if not owner or (owner == self.account_id and parts[3] == self.region_name):
                results += original(self, [event])
                continue
            _SENDER.account = self.account_id
            try:
                foreign = events_backends[owner][parts[3]]
                results += original(foreign, [{**event, "EventBusName": name}])
            finally:
                _SENDER.account = None
        return results

    return put_events


def _send_to_log_group(account: str, region: str, group_name: str, payload: str) -> None:
    group = logs_backends[account][region].groups[group_name]
    stream = str(uuid.uuid4())
    group.create_log_stream(stream)
    timestamp = int(STATE.clock.now().timestamp() * 1000)
    group.put_log_events(stream, [{"timestamp": timestamp, "message": payload}])


def _placeholder_text(name: str, value: Any, bare: bool) -> str:
    if name == _EVENT_JSON:
        return json.dumps(value)
    if value is ABSENT:
        return "" if bare else "null"
    if bare and isinstance(value, str):
        return value
    return json.dumps(value)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
