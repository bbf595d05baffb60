"""`rollforward report` over a fleet with one function in each row of the shared-responsibility
table, through the emulator server, as an operator's shell runs it."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from rollforward_cli.main import main

from emulator import posture_fleet
from emulator.scenario import code_zip
from emulator.state import STATE
from tests.serving import Served, served

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Served]:
    with served() as running:
        os.environ["AWS_ENDPOINT_URL"] = running.endpoint
        lam = running.client("lambda")
        role = running.client("iam").create_role(
            RoleName="posture-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        for name in ("auto-a", "auto-b"):
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Handler="app.handler",
                Role=role,
                Code={"ZipFile": code_zip()},
                Tags={"rollforward:owner": "a@example.com"},
            )
        posture_fleet.create_function_update_function(lam, role, code_zip())
        # 31 days pass; AWS releases a new runtime version; one Auto function is deployed (phase 1).
        STATE.clock.advance(timedelta(days=31))
        oldest = STATE.catalog.versions("python3.12", REGION, "x86_64")[0].arn
        STATE.catalog.release("python3.12", REGION)
        lam.update_function_configuration(FunctionName="auto-a", Description="deployed")
        posture_fleet.create_image_function(lam, role, account_id=ACCOUNT, region=REGION)
        posture_fleet.create_pinning_stack(
            running.client("cloudformation"), running.client("iam"), role, oldest
        )
        STATE.drain()
        yield running


def _report() -> dict[str, Any]:
    code, out, err = _cli("report", "--output", "json")
    assert code == 0, err
    return dict(json.loads(out))


def test_report_json_lists_every_function_with_its_row_and_status(fleet: Served) -> None:
    document = _report()
    by_name = {f["function"]: f for f in document["functions"] if f["qualifier"] == "$LATEST"}
    listed = {
        f["FunctionName"]
        for page in fleet.client("lambda").get_paginator("list_functions").paginate()
        for f in page["Functions"]
    }
    assert listed <= set(by_name)  # every function (rollforward's own included)
    assert (by_name["auto-a"]["row"], by_name["auto-a"]["status"]) == ("auto", "met")
    ledger_sync = by_name[posture_fleet.FUNCTION_UPDATE]
    assert (ledger_sync["row"], ledger_sync["status"]) == ("function_update", "unmet")
    assert "not updated for 31 days" in ledger_sync["reason"]
    reports = by_name[posture_fleet.IMAGE]
    assert (reports["row"], reports["status"]) == ("container_image", "unmet")
    assert "120 days old" in reports["reason"]
    assert "rebuild" in reports["action"]
    billing = by_name[posture_fleet.STACK_FUNCTION]
    assert (billing["row"], billing["status"]) == ("manual", "unmet")
    assert billing["stack"] == posture_fleet.STACK
    assert "Resources.Billing.Properties.RuntimeManagementConfig" in billing["template_pin"]
    summary = {s["row"]: s for s in document["summary"]}
    assert summary["container_image"]["unmet"] == 1
    assert summary["function_update"]["unmet"] == 1
    assert document["account"] == ACCOUNT and document["region"] == REGION


def test_the_cloudformation_pin_is_tracked_in_the_ledger(fleet: Served) -> None:
    deadline = time.monotonic() + 30
    while True:
        document = _report()
        billing = next(f for f in document["functions"] if f["function"] == "billing")
        if billing["evidence"].get("pin_id") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "tracked by rollforward" in billing["reason"]


def test_report_csv_has_a_header_and_one_row_per_version(fleet: Served) -> None:
    code, out, err = _cli("report", "--csv", "-")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"function", "row", "status", "unmet_since"} <= set(rows[0])
    assert any(r["function"] == "reports" and r["status"] == "unmet" for r in rows)


def test_report_table_for_people(fleet: Served) -> None:
    code, out, err = _cli("report", "--unmet-only")
    assert code == 0, err
    assert "Container image" in out and "Function update" in out
    assert "auto-a" not in out  # met: left out with --unmet-only
    assert "Templates that re-pin:" in out


def test_notify_owners_sends_the_image_notice_to_the_owner_topic(fleet: Served) -> None:
    sqs, sns = fleet.client("sqs"), fleet.client("sns")
    url = sqs.create_queue(QueueName="posture-owner")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = next(
        t["TopicArn"] for t in sns.list_topics()["Topics"] if "OwnerTopic" in t["TopicArn"]
    )
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )

    code, _, err = _cli("report", "--notify-owners", "--output", "json")

    assert code == 0, err
    bodies = []
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        body = json.loads(message["Body"])  # the protocol's body (`sqs`) of the JSON message
        bodies.append(json.loads(body["sqs"]) if "sqs" in body else body)
    [notice] = [b for b in bodies if b["kind"] == "image_outdated"]
    assert "reports" in notice["subject"] and "120 days" in notice["subject"]
    assert "/reports@sha256:" in notice["text"]
    assert "Rebuild the image from the latest version of its base image" in notice["text"]


def test_bad_thresholds_are_usage_errors(fleet: Served) -> None:
    code, _, err = _cli("report", "--image-max-age", "soon")
    assert code == 2 and "--image-max-age" in err


def test_emulator_image_push_backdates_an_image_on_the_server(fleet: Served) -> None:
    code, out, err = _cli(
        "emulator", "image", "push", "nightly", "--tag", "v7", "--age", "120d", "--output", "json"
    )
    assert code == 0, err
    pushed = json.loads(out)
    [image] = fleet.client("ecr").describe_images(
        repositoryName="nightly", imageIds=[{"imageDigest": pushed["digest"]}]
    )["imageDetails"]
    age = STATE.clock.now() - image["imagePushedAt"]
    assert timedelta(days=120) <= age < timedelta(days=120, minutes=10)
    assert pushed["image_uri"].endswith("/nightly:v7")
