"""Map in DISTRIBUTED mode, as AWS runs it (docs/parity/stepfunctions.md, the Map rows).

moto's interpreter accepted a Distributed Map without `ExecutionType`, answered definition errors
with an empty error code, and ignored the tolerated failure threshold: a Map whose children all
failed succeeded with `null` for each. The reconciling scan's machine (workflows/scan.py) is a
Distributed Map; these rules are what its children's failures mean.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.stepfunctions import exceeds_tolerance
from tests.emulator.test_stepfunctions_strict import ROLE, run


@pytest.fixture
def states(aws: Any) -> None:
    """The machines' role (as tests/emulator/test_stepfunctions_strict.py makes it)."""
    iam = boto3.client("iam")
    iam.create_role(RoleName="states", AssumeRolePolicyDocument="{}")
    allow_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="states", PolicyName="tasks", PolicyDocument=json.dumps(allow_all))


DISTRIBUTED = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
# A child fails when its item says so; the others pass their item through.
CHILD = {
    "StartAt": "Fails?",
    "States": {
        "Fails?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Fail"}],
            "Default": "Done",
        },
        "Fail": {"Type": "Fail", "Error": "Child.Failed", "Cause": "this item fails"},
        "Done": {"Type": "Pass", "End": True},
    },
}


def distributed_map(processor: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"ProcessorConfig": DISTRIBUTED, **CHILD, **(processor or {})},
                **fields,
                "End": True,
            }
        },
    }


def items(failing: int, passing: int) -> dict[str, Any]:
    return {"items": [{"fail": True}] * failing + [{"fail": False}] * passing}


def _create(definition: dict[str, Any]) -> None:
    boto3.client("stepfunctions").create_state_machine(
        name="refused", definition=json.dumps(definition), roleArn=ROLE
    )


def test_a_distributed_map_must_name_its_child_execution_type(states: None) -> None:
    definition = distributed_map({"ProcessorConfig": {"Mode": "DISTRIBUTED"}})
    with pytest.raises(ClientError) as refused:
        _create(definition)
    assert refused.value.response["Error"]["Code"] == "InvalidDefinition"
    assert "ExecutionType" in refused.value.response["Error"]["Message"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_definition_the_parser_refuses_is_an_invalid_definition(states: None) -> None:
    with pytest.raises(ClientError) as refused:
        _create({"StartAt": "Nowhere", "States": {"P": {"Type": "Nope", "End": True}}})
    assert refused.value.response["Error"]["Code"] == "InvalidDefinition"  # moto: ""


def test_one_failed_child_fails_the_map_run_when_nothing_is_tolerated(states: None) -> None:
    described = run(distributed_map(), items(failing=1, passing=3))
    assert described["status"] == "FAILED", described  # moto: SUCCEEDED, null for the child
    assert described["error"] == "States.ExceedToleratedFailureThreshold"


def test_a_failed_child_says_why(states: None, caplog: pytest.LogCaptureFixture) -> None:
    """AWS keeps each failed child execution to describe; the emulator logs its reason (moto
    kept none), so a Map Run that fails in a test says which child failed and why."""
    with caplog.at_level("WARNING", logger="emulator.stepfunctions"):
        run(distributed_map(), items(failing=1, passing=2))
    reasons = [r.getMessage() for r in caplog.records if r.name == "emulator.stepfunctions"]
    assert len(reasons) == 1, reasons
    assert "Child.Failed" in reasons[0] and "this item fails" in reasons[0]


def test_a_role_that_may_not_start_its_own_executions_runs_no_child(states: None) -> None:
    """Each child of a Distributed Map is an execution of the same state machine, started as
    its role: without `states:StartExecution` on itself the Map fails before any child runs
    (what CDK's DistributedMap grants, and misses when the Map is nested in a Parallel)."""
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "states:StartExecution", "Resource": "*"}],
    }
    boto3.client("iam").put_role_policy(
        RoleName="states", PolicyName="no-children", PolicyDocument=json.dumps(deny)
    )
    definition = distributed_map(
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
    )
    definition["States"]["Map"].pop("End")
    definition["States"]["Map"]["Next"] = "Caught"
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    described = run(definition, items(failing=0, passing=2))
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime"), described
    assert "not authorized to perform: states:StartExecution" in described["cause"]


def test_the_threshold_failure_is_caught_like_any_error(states: None) -> None:
    definition = distributed_map(
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
    )
    definition["States"]["Map"].pop("End")
    definition["States"]["Map"]["Next"] = "Done"
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    definition["States"]["Done"] = {"Type": "Pass", "End": True}
    described = run(definition, items(failing=2, passing=2))
    assert described["status"] == "SUCCEEDED", described
    error = json.loads(described["output"])["error"]
    assert error["Error"] == "States.ExceedToleratedFailureThreshold"


def test_failures_within_the_tolerated_count_let_the_map_succeed(states: None) -> None:
    described = run(distributed_map(ToleratedFailureCount=1), items(failing=1, passing=2))
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]).count(None) == 1  # the failed child's result
    over = run(distributed_map(ToleratedFailureCount=1), items(failing=2, passing=1))
    assert over["error"] == "States.ExceedToleratedFailureThreshold", over


def test_a_child_no_catch_reaches_is_tolerated_at_a_hundred_percent(states: None) -> None:
    """The scan's Map (workflows/scan.py): a child failing with States.Runtime (an item
    without `fail`: the Choice reads a path its input lacks), which no Catch reaches, fails
    only itself."""
    mixed = {"items": [{"fail": False}, {}, {"fail": False}]}
    described = run(distributed_map(ToleratedFailurePercentage=100), mixed)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]).count(None) == 1
    untolerated = run(distributed_map(), mixed)
    assert untolerated["error"] == "States.ExceedToleratedFailureThreshold", untolerated


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "exceeded"),
    [
        (0, 10, 0, 0.0, False),  # nothing failed
        (1, 10, 0, 0.0, True),  # nothing tolerated (the default)
        (2, 10, 2, 0.0, False),  # at the count
        (3, 10, 2, 0.0, True),  # over the count
        (2, 10, 0, 20.0, False),  # at the percentage
        (3, 10, 0, 20.0, True),  # over the percentage
        (3, 10, 5, 20.0, True),  # both declared: exceeding either fails it
        (3, 10, 2, 50.0, True),
        (2, 10, 5, 50.0, False),
    ],
)
def test_the_threshold_is_exceeded_by_more_failures_than_either_limit(
    failed: int, total: int, count: int, percentage: float, exceeded: bool
) -> None:
    assert exceeds_tolerance(failed, total, count, percentage) is exceeded


# ------------------------------------------------------------------------------ ResultWriter
# 1,000 children, each a result of ~300 bytes from an item of ~10: together (about 300 KiB) they
# outgrow a state's 256 KiB, as 1,000 scan targets' results would.
MANY, PADDING = 1000, "x" * 280
BULKY_CHILD = {
    "StartAt": "Grow",
    "States": {"Grow": {"Type": "Pass", "Parameters": {"n.$": "$.n", "pad": PADDING}, "End": True}},
}
MANY_ITEMS = {"items": [{"n": n} for n in range(MANY)]}


def _bulky(writer: dict[str, Any] | None = None) -> dict[str, Any]:
    return distributed_map(BULKY_CHILD, **({"ResultWriter": writer} if writer else {}))


def test_a_thousand_childrens_results_outgrow_the_state_without_a_result_writer(
    states: None,
) -> None:
    described = run(_bulky(), MANY_ITEMS)
    assert described["status"] == "FAILED", described
    assert described["error"] == "States.DataLimitExceeded"


def test_a_result_writer_leaves_the_results_in_s3_as_aws_does(states: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="map-results")
    writer = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "map-results", "Prefix": "cycles"},
    }
    described = run(_bulky(writer), MANY_ITEMS)

    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert ":mapRun:" in output["MapRunArn"]
    details = output["ResultWriterDetails"]
    run_id = output["MapRunArn"].rsplit(":", 1)[-1]
    assert details == {"Bucket": "map-results", "Key": f"cycles/{run_id}/manifest.json"}
    manifest = json.loads(s3.get_object(Bucket="map-results", Key=details["Key"])["Body"].read())
    assert manifest["DestinationBucket"] == "map-results"
    assert manifest["MapRunArn"] == output["MapRunArn"]
    assert manifest["ResultFiles"]["FAILED"] == manifest["ResultFiles"]["PENDING"] == []
    (succeeded,) = manifest["ResultFiles"]["SUCCEEDED"]
    assert succeeded["Key"] == f"cycles/{run_id}/SUCCEEDED_0.json"
    body = s3.get_object(Bucket="map-results", Key=succeeded["Key"])["Body"].read()
    assert succeeded["Size"] == len(body)
    children = json.loads(body)
    assert len(children) == MANY
    assert {c["Status"] for c in children} == {"SUCCEEDED"}
    assert sorted(json.loads(c["Output"])["n"] for c in children) == list(range(MANY))


def test_a_result_writer_lists_tolerated_failures_in_their_own_file(states: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="map-results")
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "map-results"}}
    described = run(
        distributed_map(ResultWriter=writer, ToleratedFailureCount=1), items(failing=1, passing=2)
    )
    assert described["status"] == "SUCCEEDED", described
    key = json.loads(described["output"])["ResultWriterDetails"]["Key"]
    files = json.loads(s3.get_object(Bucket="map-results", Key=key)["Body"].read())["ResultFiles"]
    (failed,) = files["FAILED"]
    body = json.loads(s3.get_object(Bucket="map-results", Key=failed["Key"])["Body"].read())
    assert [c["Status"] for c in body] == ["FAILED"]
    assert failed["Key"].endswith("/FAILED_0.json") and len(files["SUCCEEDED"]) == 1
