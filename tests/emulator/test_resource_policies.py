"""Resource-based policies as AWS evaluates them (docs/parity/iam.md, "Resource-based
policies"): role trust policies on AssumeRole with their conditions, same account and across
accounts; EventBridge event bus policies on PutEvents from another account; SNS topic
policies on a publish from another account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.iam import GENERATION
from emulator.inprocess import EmbeddedAws
from emulator.organizations import enroll, organization_id_of

REGION = "us-east-1"
HUB = "123456789012"
MEMBER = "111111111111"
OUTSIDER = "222222222222"


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


def _code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def _role(account: str, name: str, trust: dict[str, Any], allow: str = "*") -> str:
    """A role made in `account`'s IAM directly (as an account's own admin would)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    role = backend.create_role(
        role_name=name,
        assume_role_policy_document=json.dumps(trust),
        path="/",
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration="3600",
        linked_service=None,
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": allow, "Resource": "*"}],
    }
    backend.put_role_policy(name, "access", json.dumps(policy))
    GENERATION.bump()
    return str(role.arn)


def _trust(principal: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def _user(name: str, statements: list[dict[str, Any]]) -> boto3.Session:
    iam = boto3.client("iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(
            UserName=name,
            PolicyName="p",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )


def _assume(session: boto3.Session, role_arn: str, **extra: str) -> boto3.Session:
    answer = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="session", **extra)
    credentials = answer["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


ASSUME_ANY = [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]


def test_a_trust_naming_the_user_lets_it_assume_without_an_identity_policy(
    aws: EmbeddedAws,
) -> None:
    """Same account: the trust policy (a resource-based policy) naming the user's ARN allows
    by itself; naming only the account defers to the user's identity policies."""
    named = _user("named", [])
    _role(HUB, "names-user", _trust({"AWS": f"arn:aws:iam::{HUB}:user/named"}))
    _role(HUB, "names-account", _trust({"AWS": f"arn:aws:iam::{HUB}:root"}))

    _assume(named, f"arn:aws:iam::{HUB}:role/names-user")
    with pytest.raises(ClientError) as refused:
        _assume(named, f"arn:aws:iam::{HUB}:role/names-account")
    assert _code(refused.value) == "AccessDenied"
    allowed = _user("allowed", ASSUME_ANY)
    _assume(allowed, f"arn:aws:iam::{HUB}:role/names-account")


def test_a_cross_account_trust_needs_the_identity_policy_and_its_external_id(
    aws: EmbeddedAws,
) -> None:
    role = _role(
        MEMBER,
        "vendor",
        _trust(
            {"AWS": f"arn:aws:iam::{HUB}:user/operator"},
            {"StringEquals": {"sts:ExternalId": "shared-secret"}},
        ),
    )
    without_policy = _user("operator", [])
    with pytest.raises(ClientError):  # across accounts, the trust alone is not enough
        _assume(without_policy, role, ExternalId="shared-secret")
    boto3.client("iam").put_user_policy(
        UserName="operator",
        PolicyName="assume",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": ASSUME_ANY}),
    )
    for wrong in ({}, {"ExternalId": "guess"}):
        with pytest.raises(ClientError) as refused:
            _assume(without_policy, role, **wrong)
        assert _code(refused.value) == "AccessDenied"
    session = _assume(without_policy, role, ExternalId="shared-secret")
    assert session.client("sts").get_caller_identity()["Account"] == MEMBER


def test_a_trust_conditioned_on_the_organization_admits_only_its_members(
    aws: EmbeddedAws,
) -> None:
    """aws:PrincipalOrgID is the caller's account's organization (moto's Organizations)."""
    organization = enroll(MEMBER, management=HUB)
    assert organization_id_of(HUB) == organization_id_of(MEMBER) == organization
    trust = _trust(
        {"AWS": ["arn:aws:iam::" + HUB + ":root", "arn:aws:iam::" + OUTSIDER + ":root"]},
        {"StringEquals": {"aws:PrincipalOrgID": organization}},
    )
    role = _role(MEMBER, "org-only", trust)
    outsider_role = _role(OUTSIDER, "outsider-admin", _trust({"AWS": f"arn:aws:iam::{HUB}:root"}))
    operator = _user("operator", ASSUME_ANY)

    _assume(operator, role)  # the hub is the organization's management account
    outsider = _assume(operator, outsider_role)  # a session in an account outside it
    with pytest.raises(ClientError) as refused:
        _assume(outsider, role)
    assert _code(refused.value) == "AccessDenied"


def test_a_trust_conditioned_on_the_principal_account(aws: EmbeddedAws) -> None:
    role = _role(
        MEMBER,
        "hub-only",
        _trust({"AWS": "*"}, {"StringEquals": {"aws:PrincipalAccount": HUB}}),
    )
    operator = _user("operator", ASSUME_ANY)
    _assume(operator, role)
    outsider = _assume(operator, _role(OUTSIDER, "o", _trust({"AWS": HUB})))
    with pytest.raises(ClientError):
        _assume(outsider, role)


def _member_session(aws: EmbeddedAws) -> boto3.Session:
    operator = _user("operator", ASSUME_ANY)
    return _assume(operator, _role(MEMBER, "member-admin", _trust({"AWS": HUB})))


def test_put_events_on_another_accounts_bus_needs_its_bus_policy(aws: EmbeddedAws) -> None:
    """EventBridge User Guide, "Sending and receiving events between AWS accounts": the
    receiving bus's resource-based policy must allow the sender (here: its organization)."""
    organization = enroll(MEMBER, management=HUB)
    events = boto3.client("events", region_name=REGION)
    bus = events.create_event_bus(Name="hub")["EventBusArn"]
    member_events = _member_session(aws).client("events")
    entry = {"Source": "member", "DetailType": "pin", "Detail": "{}", "EventBusName": bus}

    with pytest.raises(ClientError) as refused:
        member_events.put_events(Entries=[entry])
    assert _code(refused.value) == "AccessDeniedException"

    events.put_permission(
        EventBusName="hub",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "organization",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "events:PutEvents",
                        "Resource": bus,
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization}},
                    }
                ],
            }
        ),
    )
    answer = member_events.put_events(Entries=[entry])
    assert answer["FailedEntryCount"] == 0


def test_publish_to_another_accounts_topic_needs_its_topic_policy(aws: EmbeddedAws) -> None:
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="hub-notices")["TopicArn"]
    member_sns = _member_session(aws).client("sns")
    with pytest.raises(ClientError) as refused:
        member_sns.publish(TopicArn=topic, Message="hello")
    assert _code(refused.value) == "AuthorizationError"

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {  # CDK's default on every topic: SDK calls reach AWS over TLS, so it never bites
                "Sid": "AllowPublishThroughSSLOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"},
                "Action": "sns:Publish",
                "Resource": topic,
            },
        ],
    }
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    member_sns.publish(TopicArn=topic, Message="hello")


def _failed_invocations(account: str, rule: str) -> float:
    from moto.cloudwatch.models import cloudwatch_backends

    return sum(
        datum.value
        for datum in cloudwatch_backends[account][REGION].metric_data
        if datum.namespace == "AWS/Events"
        and datum.name == "FailedInvocations"
        and any(d.value == rule for d in datum.dimensions)
    )


@pytest.mark.parametrize("case", ["delivered", "role-may-not-put", "bus-refuses"])
def test_a_rule_forwards_to_another_accounts_bus_as_its_role(aws: EmbeddedAws, case: str) -> None:
    """A member's rule whose target is the hub's bus: EventBridge assumes the target's RoleArn
    (it must allow events:PutEvents on that bus) and the hub bus's policy must admit the member;
    otherwise the target gets nothing and the rule's FailedInvocations counts it. The event
    keeps the member's account."""
    from emulator.state import STATE

    organization = enroll(MEMBER, management=HUB)
    events = boto3.client("events", region_name=REGION)
    bus = events.create_event_bus(Name="hub")["EventBusArn"]
    if case != "bus-refuses":
        events.put_permission(
            EventBusName="hub",
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "organization",
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "events:PutEvents",
                            "Resource": bus,
                            "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization}},
                        }
                    ],
                }
            ),
        )
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="arrivals")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = json.dumps({"source": ["member.app"]})
    events.put_rule(Name="arrivals", EventBusName="hub", EventPattern=pattern)
    events.put_targets(Rule="arrivals", EventBusName="hub", Targets=[{"Id": "q", "Arn": queue_arn}])
    role = _role(
        MEMBER,
        "forwarder",
        _trust({"Service": "events.amazonaws.com"}),
        allow="events:PutEvents" if case != "role-may-not-put" else "sqs:ListQueues",
    )
    member = _member_session(aws).client("events")
    member.put_rule(Name="forward", EventPattern=pattern)
    member.put_targets(Rule="forward", Targets=[{"Id": "hub", "Arn": bus, "RoleArn": role}])

    member.put_events(Entries=[{"Source": "member.app", "DetailType": "pin", "Detail": "{}"}])
    STATE.drain(timeout=30)

    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", [])
    if case == "delivered":
        (message,) = messages
        assert json.loads(message["Body"])["account"] == MEMBER
        assert _failed_invocations(MEMBER, "forward") == 0
    else:
        assert messages == []
        assert _failed_invocations(MEMBER, "forward") == 1


def test_a_state_machine_target_whose_role_may_not_start_it_gets_nothing(
    aws: EmbeddedAws,
) -> None:
    from emulator.state import STATE

    role = _role(HUB, "no-start", _trust({"Service": "events.amazonaws.com"}), allow="sqs:*")
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="m",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=role,
    )["stateMachineArn"]
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="go", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(Rule="go", Targets=[{"Id": "m", "Arn": machine, "RoleArn": role}])

    events.put_events(Entries=[{"Source": "app", "DetailType": "x", "Detail": "{}"}])
    STATE.drain(timeout=30)

    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    assert _failed_invocations(HUB, "go") == 1


def test_a_lambda_target_needs_the_function_policy_to_allow_eventbridge(
    aws: EmbeddedAws,
) -> None:
    """EventBridge invokes a Lambda target as the service `events.amazonaws.com`: without a
    statement in the function's policy (CDK's AWS::Lambda::Permission, SourceArn the rule)
    it gets nothing and the rule counts a FailedInvocation."""
    from emulator.state import STATE

    lam = boto3.client("lambda", region_name=REGION)
    role = _role(HUB, "fn", _trust({"Service": "lambda.amazonaws.com"}))
    function = lam.create_function(
        FunctionName="listener",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )["FunctionArn"]
    events = boto3.client("events", region_name=REGION)
    rule = events.put_rule(Name="go", EventPattern=json.dumps({"source": ["app"]}))["RuleArn"]
    events.put_targets(Rule="go", Targets=[{"Id": "f", "Arn": function}])
    entry = {"Source": "app", "DetailType": "x", "Detail": "{}"}

    events.put_events(Entries=[entry])
    STATE.drain(timeout=30)
    assert _failed_invocations(HUB, "go") == 1

    lam.add_permission(
        FunctionName="listener",
        StatementId="other-rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule.replace(":rule/go", ":rule/another"),
    )
    events.put_events(Entries=[entry])
    STATE.drain(timeout=30)
    assert _failed_invocations(HUB, "go") == 2  # the statement is for another rule

    lam.add_permission(
        FunctionName="listener",
        StatementId="this-rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule,
    )
    events.put_events(Entries=[entry])
    STATE.drain(timeout=30)
    assert _failed_invocations(HUB, "go") == 2


@pytest.mark.parametrize("case", ["started", "role-may-not-start", "role-does-not-trust"])
def test_a_schedule_invokes_its_state_machine_as_its_role(aws: EmbeddedAws, case: str) -> None:
    """EventBridge Scheduler User Guide, "Set up the execution role": Scheduler assumes the
    target's RoleArn (trusting scheduler.amazonaws.com, here conditioned on aws:SourceAccount)
    and starts the execution as that role: without states:StartExecution, nothing starts."""
    from emulator import scheduler

    trusted = "scheduler.amazonaws.com" if case != "role-does-not-trust" else "events.amazonaws.com"
    role = _role(
        HUB,
        "schedule",
        _trust({"Service": trusted}, {"StringEquals": {"aws:SourceAccount": HUB}}),
        allow="states:StartExecution" if case != "role-may-not-start" else "lambda:InvokeFunction",
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="scan",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=role,
    )["stateMachineArn"]
    schedule = {"Name": "hourly", "Target": {"Arn": machine, "RoleArn": role, "Input": "{}"}}

    fired = scheduler.fire(schedule, HUB, REGION)

    started = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert (fired, len(started)) == ((True, 1) if case == "started" else (False, 0))


def test_a_permissions_boundary_caps_what_a_role_session_may_do(aws: EmbeddedAws) -> None:
    """IAM User Guide, "Permissions boundaries for IAM entities": the effective permissions
    are what both the identity policies and the boundary allow (a Deny in either refuses)."""
    iam = boto3.client("iam")
    boundary = iam.create_policy(
        PolicyName="boundary",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": "*"},
                ],
            }
        ),
    )["Policy"]["Arn"]
    iam.create_role(
        RoleName="bounded",
        AssumeRolePolicyDocument=json.dumps(_trust({"AWS": f"arn:aws:iam::{HUB}:root"})),
        PermissionsBoundary=boundary,
    )
    iam.put_role_policy(
        RoleName="bounded",
        PolicyName="admin",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    session = _assume(_user("operator", ASSUME_ANY), f"arn:aws:iam::{HUB}:role/bounded")

    queue = session.client("sqs").create_queue(QueueName="inside")["QueueUrl"]  # both allow
    with pytest.raises(ClientError) as outside:  # the identity policy allows, the boundary not
        session.client("sns").create_topic(Name="outside")
    assert _code(outside.value) == "AuthorizationError"
    with pytest.raises(ClientError) as denied:  # the boundary's Deny
        session.client("sqs").delete_queue(QueueUrl=queue)
    assert "AccessDenied" in _code(denied.value)

    iam.delete_role_permissions_boundary(RoleName="bounded")
    session.client("sns").create_topic(Name="outside")
