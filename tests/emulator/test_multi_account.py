"""Several accounts in one embedded AWS: the hub assumes a member account's role, and the
session acts in that account, held to that role's policies (docs/parity/accounts.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.accounts import create_member_account, create_organization, stack_set_credentials
from emulator.inprocess import EmbeddedAws

REGION = "us-east-1"
HUB = "123456789012"
MEMBER = "111111111111"
OTHER = "222222222222"
ZIP = b"PK\x05\x06" + b"\x00" * 18
TRUST_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


def _code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def _hub_operator(may_assume: str) -> boto3.Session:
    iam = boto3.client("iam")
    iam.create_user(UserName="hub-operator")
    iam.put_user_policy(
        UserName="hub-operator",
        PolicyName="assume-members",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": may_assume}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="hub-operator")["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )


def _assume(session: boto3.Session, role_arn: str) -> boto3.Session:
    credentials = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="hub")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def _create_function(session: boto3.Session, name: str) -> str:
    role = session.client("iam").create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA)
    )["Role"]["Arn"]
    return str(
        session.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": ZIP},
        )["FunctionArn"]
    )


def test_an_assumed_member_role_acts_in_the_member_account(aws: EmbeddedAws) -> None:
    member = create_member_account(MEMBER)
    session = _assume(_hub_operator(member.role_arn), member.role_arn)

    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == MEMBER
    assert (
        identity["Arn"]
        == f"arn:aws:sts::{MEMBER}:assumed-role/{member.role_arn.split('/')[-1]}/hub"
    )

    arn = _create_function(session, "member-fn")
    assert arn.startswith(f"arn:aws:lambda:{REGION}:{MEMBER}:function:")
    hub_root = boto3.client("lambda", region_name=REGION)
    assert "member-fn" not in {f["FunctionName"] for f in hub_root.list_functions()["Functions"]}
    assert [f["FunctionName"] for f in session.client("lambda").list_functions()["Functions"]] == [
        "member-fn"
    ]
    # The hub's root does not reach into the member account by ARN either.
    with pytest.raises(ClientError) as refused:
        hub_root.get_function(FunctionName=arn)
    assert _code(refused.value) == "AccessDeniedException"


def test_the_member_roles_policies_are_enforced(aws: EmbeddedAws) -> None:
    member = create_member_account(
        MEMBER,
        role_name="rollforward-member",
        policy={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}],
        },
    )
    session = _assume(_hub_operator(member.role_arn), member.role_arn)
    assert session.client("lambda").list_functions()["Functions"] == []
    with pytest.raises(ClientError) as refused:
        session.client("lambda").get_function(FunctionName="anything")
    assert _code(refused.value) == "AccessDeniedException"
    assert "assumed-role/rollforward-member/hub" in refused.value.response["Error"]["Message"]


def test_a_role_that_does_not_trust_the_hub_cannot_be_assumed(aws: EmbeddedAws) -> None:
    member = create_member_account(MEMBER, hub_account=OTHER)  # trusts another account
    with pytest.raises(ClientError) as refused:
        _assume(_hub_operator(member.role_arn), member.role_arn)
    assert _code(refused.value) == "AccessDenied"


def test_the_hubs_identity_policy_must_allow_the_assume(aws: EmbeddedAws) -> None:
    member = create_member_account(MEMBER)
    other = create_member_account(OTHER)
    operator = _hub_operator(member.role_arn)  # may assume MEMBER's role only
    with pytest.raises(ClientError) as refused:
        _assume(operator, other.role_arn)
    assert _code(refused.value) == "AccessDenied"


@pytest.mark.parametrize("account_id", ["12345", HUB, "abcdefghijkl"])
def test_a_member_account_id_is_twelve_digits_and_not_the_hub(account_id: str) -> None:
    with pytest.raises(ValueError):
        create_member_account(account_id)


# ---------------------------------------------------------------- the Organization (issue 12)

FORWARDED = {"source": ["test.members"]}


def _in(account: str) -> boto3.Session:
    """A session acting in `account` (its OrganizationAccountAccessRole, from the hub)."""
    credentials = stack_set_credentials(account)
    return boto3.Session(region_name=REGION, **credentials)


def _forwarding(session: boto3.Session, hub_bus: str) -> None:
    """The member stack's rule: this account's matching events go to the hub's bus."""
    events = session.client("events")
    events.put_rule(Name="to-hub", EventPattern=json.dumps(FORWARDED))
    events.put_targets(Rule="to-hub", Targets=[{"Id": "hub", "Arn": hub_bus}])


def test_the_hub_bus_admits_forwarded_events_from_the_organization_only(aws: EmbeddedAws) -> None:
    """EventBridge delivers to another account's bus only what that bus's policy admits (here
    `aws:PrincipalOrgID`, as the hub's); the event keeps its own account."""
    organization, _ = create_organization([MEMBER])
    create_member_account(OTHER)  # the hub may act there, but OTHER is no member
    events, sqs = boto3.client("events"), boto3.client("sqs")
    hub_bus = events.create_event_bus(Name="hub")["EventBusArn"]
    events.put_permission(
        EventBusName="hub",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Organization",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "events:PutEvents",
                        "Resource": hub_bus,
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization}},
                    }
                ],
            }
        ),
    )
    queue = sqs.create_queue(QueueName="hub-received")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="received", EventBusName="hub", EventPattern=json.dumps(FORWARDED))
    events.put_targets(Rule="received", EventBusName="hub", Targets=[{"Id": "q", "Arn": queue_arn}])
    for account in (MEMBER, OTHER):
        session = _in(account)
        _forwarding(session, hub_bus)
        session.client("events").put_events(
            Entries=[{"Source": "test.members", "DetailType": "t", "Detail": json.dumps({})}]
        )
    aws.state.drain()

    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["account"] for m in received] == [MEMBER]


def test_assuming_only_roles_of_the_organization(aws: EmbeddedAws) -> None:
    """`aws:ResourceOrgID` on the hub's AssumeRole: a role of a member account, yes; the same
    role name in an account outside the organization, no."""
    organization, (member,) = create_organization([MEMBER])
    other = create_member_account(OTHER)
    iam = boto3.client("iam")
    iam.create_user(UserName="hub-fn")
    iam.put_user_policy(
        UserName="hub-fn",
        PolicyName="assume-in-org",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Resource": "arn:aws:iam::*:role/*",
                        "Condition": {"StringEquals": {"aws:ResourceOrgID": organization}},
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="hub-fn")["AccessKey"]
    hub_fn = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )
    assert _assume(hub_fn, member.role_arn).client("sts").get_caller_identity()["Account"] == (
        MEMBER
    )
    with pytest.raises(ClientError) as refused:
        _assume(hub_fn, other.role_arn)
    assert _code(refused.value) == "AccessDenied"
