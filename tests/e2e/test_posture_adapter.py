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
    # GetFunction (its own bucket) for each $LATEST and each alias-routed version: 4 + 2.
    assert calls["GetFunction"] == 6 and "GetFunctionConfiguration" not in calls


def test_a_read_out_of_time_resumes_from_its_marker_and_misses_nothing(aws: EmbeddedAws) -> None:
    lam = boto3.client("lambda")
    role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    for index in range(5):
        lam.create_function(
            FunctionName=f"fn-{index}",
            Runtime="python3.12",
            Handler="app.handler",
            Role=role,
            Code={"ZipFile": code_zip()},
        )
    ecr, cloudformation = boto3.client("ecr"), boto3.client("cloudformation")
    pages_read = 0

    def after_two_pages() -> bool:
        nonlocal pages_read
        pages_read += 1
        return pages_read >= 2

    first = read_fleet(lam, ecr, cloudformation, page_size=2, out_of_time=after_two_pages)
    assert first.resume_marker  # stopped before its third page
    rest = read_fleet(lam, ecr, cloudformation, page_size=2, start_marker=first.resume_marker)

    assert rest.resume_marker is None
    names = [v.function_name for v in (*first.versions, *rest.versions)]
    assert sorted(names) == [f"fn-{i}" for i in range(5)]  # each once
    assert len(first.versions) == 4
