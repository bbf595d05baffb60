"""The hub's per-account sessions (`rollforward.adapters.accounts`), on a fake STS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rollforward.adapters.accounts import (
    Credentials,
    RoutedLambdaControl,
    StsAccountSessions,
    session_name,
)
from rollforward.model import PinKey
from rollforward.ports import Refused

HUB = ("111111111111", "eu-west-1")
MEMBER = "222222222222"
T0 = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


class FakeSts:
    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.refuse:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole"
            )
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n}",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": T0 + timedelta(hours=1),
            }
        }


class FakeLambda:
    """Answers as a Lambda client of (region, credentials) would, recording where it was."""

    def __init__(self, region: str, credentials: Credentials | None) -> None:
        self.region, self.credentials = region, credentials
        self.asked: list[str] = []

    def get_runtime_management_config(self, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(kwargs["FunctionName"])
        return {"UpdateRuntimeOn": "Auto"}


class Made:
    def __init__(self, sts: FakeSts) -> None:
        self.sts = sts
        self.clients: list[FakeLambda] = []

    def __call__(self, service: str, region: str, credentials: Credentials | None) -> Any:
        if service == "sts":
            assert credentials is None, "STS is called with the hub's own credentials"
            return self.sts
        made = FakeLambda(region, credentials)
        self.clients.append(made)
        return made


def sessions(
    sts: FakeSts, now: list[datetime], role: str = "rollforward-reader"
) -> tuple[StsAccountSessions, Made]:
    made = Made(sts)
    return StsAccountSessions(
        home=HUB,
        role_name=role,
        session_name=session_name("Rollforward-CanaryFunction-ABC"),
        client=made,
        wall_clock=lambda: now[0],
    ), made


def test_the_hubs_own_account_uses_its_own_credentials_in_every_region() -> None:
    sts = FakeSts()
    hub, made = sessions(sts, [T0])
    hub.client("lambda", HUB[0], "us-east-1")
    hub.client("lambda", HUB[0], HUB[1])
    assert sts.calls == []
    assert [(c.region, c.credentials) for c in made.clients] == [
        ("us-east-1", None),
        (HUB[1], None),
    ]


def test_a_member_is_reached_through_its_role_named_after_the_acting_hub_function() -> None:
    sts = FakeSts()
    hub, _ = sessions(sts, [T0])
    client = hub.client("lambda", MEMBER, "us-east-2")
    assert sts.calls == [
        {
            "RoleArn": f"arn:aws:iam::{MEMBER}:role/rollforward-reader-us-east-2",
            "RoleSessionName": "rollforward@Rollforward-CanaryFunction-ABC",
            "DurationSeconds": 3600,
        }
    ]
    assert client.region == "us-east-2" and client.credentials.access_key_id == "ASIA1"


def test_credentials_are_reused_until_shortly_before_they_expire() -> None:
    sts = FakeSts()
    now = [T0]
    hub, _ = sessions(sts, now)
    first = hub.client("lambda", MEMBER, "us-east-1")
    hub.client("cloudwatch", MEMBER, "us-east-1")  # one session serves every service
    now[0] = T0 + timedelta(minutes=54)
    assert hub.client("lambda", MEMBER, "us-east-1") is first
    assert len(sts.calls) == 1
    now[0] = T0 + timedelta(minutes=56)  # under 5 minutes left: renewed, client rebuilt
    renewed = hub.client("lambda", MEMBER, "us-east-1")
    assert len(sts.calls) == 2 and renewed is not first
    assert renewed.credentials.access_key_id == "ASIA2"


def test_an_account_without_the_member_role_is_refused_by_name() -> None:
    hub, _ = sessions(FakeSts(refuse=True), [T0])
    with pytest.raises(Refused, match=f"account {MEMBER}.*AccessDenied"):
        hub.lambda_control(MEMBER, "us-east-1")


def test_a_single_account_install_never_assumes_a_role() -> None:
    sts = FakeSts()
    hub, made = sessions(sts, [T0], role="")
    hub.client("lambda", MEMBER, "us-east-1")
    assert sts.calls == [] and made.clients[0].credentials is None


def test_routed_control_acts_where_each_function_lives() -> None:
    sts = FakeSts()
    hub, made = sessions(sts, [T0])
    routed = RoutedLambdaControl(hub)
    member_fn = f"arn:aws:lambda:us-east-2:{MEMBER}:function:orders"
    hub_fn = f"arn:aws:lambda:{HUB[1]}:{HUB[0]}:function:billing"
    routed.runtime_setting(PinKey(member_fn))
    routed.runtime_setting(PinKey(hub_fn))
    asked = {(c.region, c.credentials is None): c.asked for c in made.clients if c.asked}
    assert asked == {("us-east-2", False): [member_fn], (HUB[1], True): [hub_fn]}


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("f", "rollforward@f"),
        ("a" * 80, "rollforward@" + "a" * 52),
        ("", "rollforward@hub"),
        ("bad name/with:chars", "rollforward@bad-name-with-chars"),
    ],
)
def test_session_names_are_valid_role_session_names(function: str, expected: str) -> None:
    assert session_name(function) == expected
