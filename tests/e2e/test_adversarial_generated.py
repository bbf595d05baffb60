"""Generated adversarial cases at the two trust boundaries: at least 1,000 each.

(a) the decision API: bodies (raw, deeply nested, wrong types, missing keys), approval and pin
ids, reasons, `until` values, snooze / exempt, and callers that may never decide here — the
account root, no identity, principals outside `allowed_approvers`, a pattern-crossing path,
the pinner, and role sessions whose names the caller chose (the pinner's role under another
session name, another account's session under the pinner's name, an Identity Center session
of the pinner's name). The one authorized approver only ever sends invalid requests.
(b) detection: CloudTrail-shaped EventBridge events naming functions of other accounts,
partitions and regions, with keys dropped or replaced by any JSON value, and bare JSON.

For every case: no crash (the handler answers; a crash is API Gateway's 502) and no 5xx; a
refused request changes nothing — the emulator's count of successful state-changing calls
(`emulator.mutations`, every service, audit log writes aside) and the executions' statuses are
as before; every refusal of a request that names the open pin (its approval id or pin id) is on
that pin's timeline. One stack is deployed for the module; nothing a case may change needs a
reset because a case that changed something fails. The counts are printed to the terminal and
recorded as junit properties.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import mutations
from emulator.inprocess import EmbeddedAws
from emulator.scenario import OPERATOR_POLICY
from emulator.stack import deploy_rollforward
from tests.e2e.harness import ACCOUNT, REGION, Lifecycle, Principal, wait_for
from tests.e2e.test_adversarial import FORGER_POLICY, ROOT, World, detect_event

EXAMPLES = 1000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same cases on every run: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Approvers: on-call IAM users, and sessions of the OnCall role (plain AssumeRole) or of an
# OnCall Identity Center permission set.
POLICY = {
    "approval": {
        "allowed_approvers": [
            "arn:aws:iam::*:user/oncall-*",
            "arn:aws:sts::*:assumed-role/OnCall/*",
            "arn:aws:sts::*:assumed-role/AWSReservedSSO_OnCall_*/*",
        ],
        "separation_of_duties": True,
        "approval_timeout": "1d",
        "reject_snooze": "3d",
    }
}
# Writes a refusal is expected to make: its audit record.
AUDIT_WRITES = {("logs", "PutLogEvents"), ("logs", "CreateLogStream")}


class RoleSession:
    """A session of role `role` named `session` (plain AssumeRole: the caller picks the name)."""

    def __init__(self, role: str, session: str) -> None:
        iam = boto3.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
        iam.put_role_policy(
            RoleName=role, PolicyName="operator", PolicyDocument=json.dumps(OPERATOR_POLICY)
        )
        assumer = Principal(
            f"{session}-assumer",
            policy={
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            },
        )
        credentials = assumer.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)[
            "Credentials"
        ]
        self.arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"
        self.session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )

    def client(self, service: str) -> Any:
        return self.session.client(service)


@contextmanager
def quiet_handlers(aws: EmbeddedAws) -> Iterator[None]:
    """Thousands of refusals: the handlers log errors only (as the demo has them)."""
    saved, aws.state.handler_log_level = aws.state.handler_log_level, "ERROR"
    try:
        yield
    finally:
        aws.state.handler_log_level = saved


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with EmbeddedAws() as aws, quiet_handlers(aws):
        lifecycle = Lifecycle(aws, deploy_rollforward(context={"policy": POLICY}))
        approver = Principal("oncall-bob")
        outsider = Principal("mallory", policy=FORGER_POLICY)
        nested = boto3.client("iam").create_user(UserName="mallory2", Path="/oncall-x/")["User"]
        # The pinner is a session of the approvers' own role: every session of it is the pinner.
        pinner = RoleSession("OnCall", "dana")
        for name in ("checkout", "billing"):
            lifecycle.create_function(name)
            lifecycle.pin(name, by=pinner)  # type: ignore[arg-type]
        lifecycle.advance(14)
        checkout = wait_for(lambda: lifecycle.pending_approval("checkout"), what="an approval")
        billing = wait_for(lambda: lifecycle.pending_approval("billing"), what="an approval")
        lifecycle.lift("billing", by=pinner)  # type: ignore[arg-type]
        wait_for(lambda: not lifecycle.pin_record("billing").is_open, what="billing lifted")
        lifecycle.settle()
        yield World(
            lifecycle,
            pinner,  # type: ignore[arg-type]
            approver,
            outsider,
            str(nested["Arn"]),
            lifecycle.key("checkout").id,
            str(checkout["approval_id"]),
            lifecycle.key("billing").id,
            str(billing["approval_id"]),
        )


def fingerprint() -> Counter[tuple[str, str]]:
    """What changes on any write a refused request could make, in any service: the emulator's
    count of successful state-changing calls, audit writes aside. (An execution moves on only
    through such a call — SendTaskSuccess, StartExecution, StopExecution — and the executions'
    statuses are compared once around the whole run.)"""
    counts = mutations.snapshot()
    for key in AUDIT_WRITES:
        counts.pop(key, None)
    return counts


def changed(before: Counter[tuple[str, str]], after: Counter[tuple[str, str]]) -> str:
    """'' when equal, else the writes made in between (for the failure message)."""
    return "" if before == after else f"writes {dict(after - before)}"


def executions(world: World) -> list[tuple[str, str]]:
    return sorted((e["executionArn"], e["status"]) for e in world.lifecycle.executions())


def report(counts: Counter[str], what: str, seconds: float, capsys: Any, prop: Any) -> None:
    for key, value in counts.items():
        prop(key, value)
    with capsys.disabled():
        print(f"\n{what}: {dict(sorted(counts.items()))} in {seconds:.0f}s")


# --------------------------------------------------------------------------- inputs
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
BAD_REASONS = st.sampled_from(
    [None, False, True, 0, 1.5, {}, [], "", "   ", "\n\t", "x" * 1001]
) | JSON.filter(lambda v: not isinstance(v, str))
UNTILS = (
    st.sampled_from(
        [
            "3000000d",
            "0001-01-01",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31",
            "999999999d",
            "2d",
            "91d",
            "31d",
            "P3D",
            "0s",
            "-1d",
            "2d;rm",
            "1e309d",
        ]
    )
    | st.text(max_size=30)
    | JSON
)


def callers(world: World) -> list[str]:
    """Principals none of whose requests may succeed (the approver's are all invalid)."""
    return [
        world.outsider.arn,
        world.nested,
        ROOT,
        "",
        "arn:aws:iam::123456789012:user/",
        world.approver.arn,
        world.pinner.arn,
        f"arn:aws:sts::{ACCOUNT}:assumed-role/OnCall/oncall-bob",  # the pinner's role
        f"arn:aws:sts::{ACCOUNT}:assumed-role/OnCall/alice",
        "arn:aws:sts::999999999999:assumed-role/OnCall/dana",  # the pinner's name elsewhere
        f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_OnCall_0123456789abcdef/dana",
        f"arn:aws:iam::{ACCOUNT}:role/OnCall",
        f"arn:aws:sts::{ACCOUNT}:federated-user/oncall-bob",
    ]


@st.composite
def decision_requests(draw: st.DrawFn, world: World) -> tuple[str, str | None, bool]:
    """(caller, raw body, whether it names the open pin)."""
    caller = draw(st.sampled_from(callers(world)))
    shape = draw(st.sampled_from(["object"] * 18 + ["raw", "deep"]))
    if shape == "raw":
        return caller, draw(st.none() | st.text(max_size=40)), False
    if shape == "deep":
        depth = draw(st.integers(1_000, 20_000))
        return caller, draw(st.sampled_from(["[", '{"a":'])) * depth, False
    fields: dict[str, Any] = {
        "action": draw(
            st.sampled_from(["approve", "reject", "snooze", "exempt"] * 4 + ["Approve", "lift"])
            | JSON
        ),
        "approval_id": draw(
            st.sampled_from([world.approval_id] * 4 + [world.lifted_approval_id, "apr-" + "0" * 32])
            | JSON
        ),
        "pin_id": draw(st.sampled_from([world.pin_id] * 4 + [world.lifted_pin_id, "x#1"]) | JSON),
        "reason": draw(
            BAD_REASONS
            if caller == world.approver.arn
            else st.sampled_from(["on-call says so"] * 3) | BAD_REASONS
        ),
        "until": draw(st.sampled_from(["2d", "5d"]) | UNTILS),
        "accept_untested": draw(st.booleans() | st.booleans() | JSON),
    }
    dropped = draw(st.sets(st.sampled_from(sorted(fields)), max_size=2))
    fields = {k: v for k, v in fields.items() if k not in dropped}
    action = fields.get("action")
    names_pin = (
        action in ("approve", "reject") and fields.get("approval_id") == world.approval_id
    ) or (action in ("snooze", "exempt") and fields.get("pin_id") == world.pin_id)
    return caller, json.dumps(fields), bool(names_pin)


def test_generated_decision_requests(
    world: World, capsys: pytest.CaptureFixture[str], record_property: Callable[..., None]
) -> None:
    counts: Counter[str] = Counter()
    audited_before = world.timeline(world.pin_id)
    executions_before = executions(world)
    started = time.monotonic()

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        caller, body, names_pin = data.draw(decision_requests(world))
        before = fingerprint()
        status, answer, crashed = world.decide(caller, body)
        diff = changed(before, fingerprint())
        counts["cases"] += 1
        counts["crashes"] += crashed
        counts["5xx"] += status >= 500
        counts["accepted"] += status < 400
        counts[f"refused {status}"] += 400 <= status < 500
        counts["side effects"] += bool(diff)
        counts["named the open pin"] += names_pin
        assert not crashed and 400 <= status < 500, (caller, body, answer)
        assert not diff, (caller, body, diff)

    run()
    counts["refusals on the pin's timeline"] = world.timeline(world.pin_id) - audited_before
    counts["executions changed"] = executions_before != executions(world)
    report(counts, "decision API", time.monotonic() - started, capsys, record_property)
    assert counts["cases"] >= EXAMPLES
    assert counts["crashes"] == counts["5xx"] == counts["accepted"] == 0
    assert counts["side effects"] == counts["executions changed"] == 0
    assert counts["refusals on the pin's timeline"] == counts["named the open pin"]
    pin = world.lifecycle.pin_record("checkout")
    assert pin is not None and str(pin.stage) == "awaiting_approval"


PATHS = [
    (), ("detail",), ("detail", "requestParameters"), ("detail", "userIdentity"),
    ("detail", "userIdentity", "sessionContext"),
]  # fmt: skip
KEYS = [
    "id", "account", "region", "source", "detail-type", "time", "detail", "eventName", "eventSource",
    "eventTime", "eventID", "awsRegion", "recipientAccountId", "errorCode", "userIdentity",
    "requestParameters", "functionName", "qualifier", "updateRuntimeOn", "runtimeVersionArn", "arn",
    "type", "sessionIssuer", "sourceIdentity",
]  # fmt: skip
FOREIGN = st.sampled_from(
    [
        f"arn:aws:lambda:{REGION}:999999999999:function:checkout",
        f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:checkout",
        f"arn:aws-cn:lambda:{REGION}:{ACCOUNT}:function:checkout",
        f"arn:aws-us-gov:lambda:us-gov-west-1:{ACCOUNT}:function:checkout",
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:checkout",
        "999999999999:function:checkout",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:checkout:live",
        "no-such-function",
        "x" * 100_000,
    ]
)
ENVELOPE = st.sampled_from(
    [{}] * 8
    + [
        {"account": "999999999999"},
        {"region": "eu-west-1"},
        {"account": ["123456789012"]},
        {"detail": []},
        {"detail": "x"},
        {"source": "aws.s3"},
        {"detail-type": "Object Created"},
    ]
)


@st.composite
def detect_events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    event = detect_event(functionName=draw(FOREIGN | st.just("checkout") | st.text(max_size=70)))
    event.update(draw(ENVELOPE))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        target: Any = event
        for part in draw(st.sampled_from(PATHS)):
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            key = draw(st.sampled_from(KEYS))
            if draw(st.booleans()):
                target.pop(key, None)
            else:
                target[key] = draw(JSON | st.lists(JSON, max_size=2))
    return event


def test_generated_detect_events(
    world: World, capsys: pytest.CaptureFixture[str], record_property: Callable[..., None]
) -> None:
    counts: Counter[str] = Counter()
    lifecycle = world.lifecycle
    pins_before = {i["pin_id"] for i in lifecycle.ledger._table.scan()["Items"]}
    executions_before = executions(world)
    rejected_before = sum(1 for r in lifecycle.audit.read() if r.event == "rejected_event")
    started = time.monotonic()

    @FUZZ
    @given(event=detect_events())
    def run(event: Any) -> None:
        before = fingerprint()
        answer, crashed = world.invoke("Detect", event)
        diff = changed(before, fingerprint())
        counts["cases"] += 1
        counts["crashes"] += crashed
        assert not crashed, (event, answer)
        if isinstance(answer, dict) and "rejected" in answer:
            counts["rejected"] += 1
            counts["side effects"] += bool(diff)
            assert not diff, (event, diff)
        else:
            action = answer.get("action") if isinstance(answer, dict) else answer
            counts[f"observed: {action}"] += 1
            counts["writes by observed events"] += bool(diff)

    run()
    pins_after = {i["pin_id"] for i in lifecycle.ledger._table.scan()["Items"]}
    counts["new ledger items"] = len(pins_after - pins_before)
    counts["executions changed"] = executions_before != executions(world)
    counts["rejections audited"] = (
        sum(1 for r in lifecycle.audit.read() if r.event == "rejected_event") - rejected_before
    )
    report(counts, "detect", time.monotonic() - started, capsys, record_property)
    assert counts["cases"] >= EXAMPLES
    assert counts["crashes"] == counts["side effects"] == counts["new ledger items"] == 0
    assert counts["executions changed"] == 0
    assert counts["rejections audited"] == counts["rejected"]
    pin = lifecycle.pin_record("checkout")
    assert pin is not None and str(pin.stage) == "awaiting_approval"
