"""How the CLI finds a deployed stack: one discovery parameter per stack
(`/rollforward/stacks/<stack>/discovery`); the only one without `--stack`, the named one with it.
"""

from __future__ import annotations

import io
import json

import boto3
import pytest
from rollforward.model import discovery_parameter
from rollforward_cli.aws import AmbiguousDeployment, NotDeployed, Target, discover
from rollforward_cli.commands import base
from rollforward_cli.main import main

from emulator.inprocess import EmbeddedAws

REGION = "us-east-1"


@pytest.fixture
def target(aws: EmbeddedAws) -> Target:
    return Target(boto3.Session(region_name=REGION), None)


def _deploy(stack: str) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=discovery_parameter(stack), Type="String", Value=json.dumps({"ledger_table": stack})
    )


def test_nothing_deployed_says_so(target: Target) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/rollforward/test-events/orders", Type="String", Value="[]"
    )
    with pytest.raises(NotDeployed, match="not deployed"):
        discover(target)


def test_the_only_stack_is_found_without_flags(target: Target) -> None:
    _deploy("Rollforward")
    assert discover(target) == {"ledger_table": "Rollforward"}


def test_several_stacks_need_a_name_and_the_named_one_is_used(target: Target) -> None:
    _deploy("Rollforward")
    _deploy("RollforwardPayments")
    with pytest.raises(AmbiguousDeployment, match="Rollforward, RollforwardPayments"):
        discover(target)
    assert discover(target, "RollforwardPayments") == {"ledger_table": "RollforwardPayments"}
    with pytest.raises(NotDeployed, match="Other"):
        discover(target, "Other")


def test_the_cli_exits_2_on_several_stacks_and_uses_stack(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deploy("Rollforward")
    _deploy("RollforwardPayments")
    seen: list[str | None] = []

    def fake_discover(_: Target, stack: str | None = None) -> dict[str, str]:
        seen.append(stack)
        return discover(target, stack)

    monkeypatch.setattr(base, "discover", fake_discover)
    monkeypatch.setattr(base.Context, "target", property(lambda self: target))
    out, err = io.StringIO(), io.StringIO()
    assert main(["status"], stdout=out, stderr=err) == 2
    assert "--stack" in err.getvalue()
    main(["--stack", "RollforwardPayments", "status"], stdout=io.StringIO(), stderr=io.StringIO())
    assert seen[-1] == "RollforwardPayments"
