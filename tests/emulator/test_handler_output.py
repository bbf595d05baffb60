"""rollforward's handlers run in process log to the process's stdout of the moment, as a Lambda
logs to its log stream: not to whatever stdout was current when their module was imported (a
capture that has been closed since, e.g. the demo's story output)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import boto3
import pytest

from emulator.functions import run_project_handler
from emulator.inprocess import EmbeddedAws

DETECT = SimpleNamespace(
    function_name="Detect",
    version="$LATEST",
    function_arn="arn:aws:lambda:us-east-1:123456789012:function:Detect",
    memory_size=128,
    timeout=3,
    region="us-east-1",
    role=None,
    handler="rollforward.handlers.detect.handler",
    environment_vars={
        "LEDGER_TABLE": "ledger",
        "APPROVALS_TABLE": "approvals",
        "AUDIT_LOG_GROUP": "audit",
        "POWERTOOLS_SERVICE_NAME": "rollforward",
        "POWERTOOLS_METRICS_DISABLED": "true",
    },
)


@pytest.fixture
def rollforward_logs_warnings() -> Iterator[None]:
    """The demo quiets the handlers' logger for the rest of the process: hear warnings here."""
    logger = logging.getLogger("rollforward")
    saved = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(saved)


@pytest.mark.usefixtures("rollforward_logs_warnings")
def test_a_handler_logs_to_the_current_stdout_after_the_last_one_closed() -> None:
    with EmbeddedAws(iam=False):
        boto3.client("logs").create_log_group(logGroupName="audit")
        first = io.StringIO()
        with redirect_stdout(first):
            run_project_handler(DETECT, {"not": "a CloudTrail event"})
        first.close()  # as the demo's output, or a test's capture, is by now

        second, errors = io.StringIO(), io.StringIO()
        with redirect_stdout(second), redirect_stderr(errors):
            payload, errored = run_project_handler(DETECT, {"not": "a CloudTrail event"})

    assert not errored and b"rejected" in payload
    assert "rejected event" in second.getvalue()
    assert "Logging error" not in errors.getvalue()
