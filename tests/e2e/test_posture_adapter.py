"""The posture adapter on the embedded AWS: what it reads, and that every call from the shared
15 req/s control-plane bucket is paced."""

from __future__ import annotations

import collections
from typing import Any

import boto3
from rollforward.adapters.posture import read_fleet

from emulator.inprocess import EmbeddedAws
from emulator.scenario import code_zip


def test_every_shared_bucket_call_is_paced(aws: EmbeddedAws) -> None:
    lam = boto3.client("lambda")
    role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    for index in range(4):
        name = f"fn-{index}"
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="app.handler",
            Role=role,
            Code={"ZipFile": code_zip()},
        )
        if index % 2 == 0:
            version = lam.publish_version(FunctionName=name)["Version"]
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    calls: collections.Counter[str] = collections.Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    reader = boto3.client("lambda")
    reader.meta.events.register("before-call.lambda.*", count)
    paced = 0

    def pace() -> None:
        nonlocal paced
        paced += 1

    fleet = read_fleet(reader, boto3.client("ecr"), boto3.client("cloudformation"), pace=pace)

    assert {(v.function_name, v.qualifier) for v in fleet.versions} == {
        ("fn-0", "$LATEST"),
        ("fn-0", "1"),
        ("fn-1", "$LATEST"),
        ("fn-2", "$LATEST"),
        ("fn-2", "1"),
        ("fn-3", "$LATEST"),
    }
    assert paced == sum(n for operation, n in calls.items() if operation != "GetFunction")
    assert calls["GetFunction"] == 4
