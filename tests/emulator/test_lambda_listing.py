"""`ListFunctions(FunctionVersion=ALL)`: what the reconciling scan lists (docs/parity/scan.md)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import boto3

from emulator.scenario import wait_until_updated


def _code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


def test_the_all_listing_pages_every_latest_and_published_version_in_order(aws: Any) -> None:
    lam = boto3.client("lambda")
    role = boto3.client("iam").create_role(RoleName="fleet", AssumeRolePolicyDocument="{}")
    for name in ("b-plain", "a-versioned"):
        lam.create_function(
            FunctionName=name, Runtime="python3.12", Handler="app.handler",
            Role=role["Role"]["Arn"], Code={"ZipFile": _code()},
        )  # fmt: skip
    lam.publish_version(FunctionName="a-versioned")
    lam.update_function_configuration(FunctionName="a-versioned", Description="v2")
    wait_until_updated(lam, "a-versioned")
    lam.publish_version(FunctionName="a-versioned")

    items, marker = [], None
    while True:
        page = lam.list_functions(
            FunctionVersion="ALL", MaxItems=2, **({"Marker": marker} if marker else {})
        )
        items += page["Functions"]
        marker = page.get("NextMarker")
        if not marker:
            break

    listed = [(f["FunctionName"], f["Version"]) for f in items]  # moto: a 500 (deep copy)
    assert listed == [
        ("a-versioned", "$LATEST"),
        ("a-versioned", "1"),
        ("a-versioned", "2"),
        ("b-plain", "$LATEST"),
    ]
    assert all("RuntimeVersionConfig" not in f for f in items)  # only GetFunction says it
    plain = lam.list_functions()["Functions"]
    assert [f["Version"] for f in plain] == ["$LATEST", "$LATEST"]
