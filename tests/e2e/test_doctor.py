"""`rollforward doctor` against the emulator server (port 0), as an operator runs it.

`rollforward emulator --deploy` leaves the account as a production account should be (a
multi-region trail logging management events, the stack deployed): every check passes for a
principal holding the operator policy. Then each prerequisite is broken in turn and doctor
names it, with its fix and the documented exit code.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from rollforward_cli.main import main

from emulator.functions import handler_environment
from emulator.scenario import OPERATOR_POLICY
from tests.serving import Served, served


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with served() as serving:
        yield serving


def _doctor(server: Served, keys: dict[str, str], *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with handler_environment({**keys, "AWS_ENDPOINT_URL": server.endpoint}):
        code = main(["doctor", *argv], stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def _line(out: str, check: str) -> str:
    """The first line of `check` (the table checks come once per table)."""
    return next(line for line in out.splitlines() if line.split()[1:2] == [check])


def test_every_check_passes_where_emulator_deploy_left_the_account(server: Served) -> None:
    keys = server.iam_user("oncall-dora", OPERATOR_POLICY).env
    code, out, err = _doctor(server, keys)
    assert code == 0, out + err
    assert "FAIL" not in out
    assert "trail management-events logs management events (every region)" in out
    for check in ("credentials", "cloudtrail", "stack", "dynamodb:Scan", "execute-api:Invoke"):
        assert _line(out, check).startswith("ok"), out
    code, out, _ = _doctor(server, keys, "--output", "json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and all(c["ok"] for c in report["checks"])


def test_a_missing_permission_is_named_with_its_fix(server: Served) -> None:
    # The operator policy without DynamoDB reads nor CloudTrail reads.
    statements = json.loads(json.dumps(OPERATOR_POLICY["Statement"]))
    statements[1]["Action"] = [
        a for a in statements[1]["Action"] if not a.startswith(("dynamodb:", "cloudtrail:"))
    ]
    keys = server.iam_user("oncall-eve", {"Version": "2012-10-17", "Statement": statements}).env
    code, out, _ = _doctor(server, keys)
    assert code == 1, out
    scan = _line(out, "dynamodb:Scan")
    assert (
        scan.startswith("FAIL") and "access denied" in scan and "fix: grant dynamodb:Scan" in scan
    )
    trail = _line(out, "cloudtrail")
    assert trail.startswith("FAIL") and "fix: grant cloudtrail:DescribeTrails" in trail
    assert _line(out, "stack").startswith("ok")


def test_a_trail_that_stopped_logging_fails_the_cloudtrail_check(server: Served) -> None:
    keys = server.iam_user("oncall-finn", OPERATOR_POLICY).env
    cloudtrail = server.client("cloudtrail")
    cloudtrail.stop_logging(Name="management-events")
    try:
        code, out, _ = _doctor(server, keys)
    finally:
        cloudtrail.start_logging(Name="management-events")
    assert code == 1, out
    line = _line(out, "cloudtrail")
    assert "trail management-events is not logging" in line
    assert "only the hourly scan finds pins" in line and "start-logging" in line


def test_the_decision_api_refusing_the_caller_is_named(server: Served) -> None:
    statements = json.loads(json.dumps(OPERATOR_POLICY["Statement"]))
    statements[0]["Action"] = ["lambda:*"]  # no execute-api:Invoke
    keys = server.iam_user("oncall-gus", {"Version": "2012-10-17", "Statement": statements}).env
    code, out, _ = _doctor(server, keys)
    assert code == 1, out
    line = _line(out, "execute-api:Invoke")
    assert line.startswith("FAIL") and "refused you (403" in line


def test_a_stack_that_is_not_there_is_exit_3(server: Served) -> None:
    keys = server.iam_user("oncall-hal", OPERATOR_POLICY).env
    code, out, _ = _doctor(server, keys, "--stack", "NoSuchStack")
    assert code == 3, out
    line = _line(out, "stack")
    assert line.startswith("FAIL") and "no rollforward stack named 'NoSuchStack'" in line
    assert "dynamodb:Scan" not in out  # nothing to check without the stack
