"""Failures told as sentences: the CLI's exit codes and the console's "Rolled back because"."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError
from hypothesis import given
from hypothesis import strategies as st
from rollforward.failures import describe, split_reason
from rollforward_cli.console.views import CanaryView
from rollforward_cli.errors import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, explain

TRACE = [
    '  File "/work/repo/.venv/lib/python3.11/site-packages/moto/core/responses.py", line 12, in x',
    '  File "/work/repo/lambdas/rollforward/canary.py", line 400, in promote',
]
LAMBDA_ERROR = {
    "errorMessage": "An error occurred (ResourceConflictException) when calling the "
    "UpdateAlias operation: update in progress",
    "errorType": "ClientError",
    "requestId": "5f8e",
    "stackTrace": TRACE,
}


def client_error(code: str, message: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetParameter",
    )


def test_a_web_page_instead_of_an_aws_answer_is_unreachable_in_one_sentence() -> None:
    page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>x</h1>"
    sentence, code = explain(client_error("500", page, 500))
    assert code == EXIT_UNREACHABLE
    assert "<" not in sentence and "\n" not in sentence
    assert "500 Internal Server Error" in sentence and "--region" in sentence


def test_exit_codes_follow_the_documented_meaning() -> None:
    assert explain(NoRegionError())[1] == EXIT_USAGE
    assert explain(EndpointConnectionError(endpoint_url="https://x"))[1] == EXIT_UNREACHABLE
    assert explain(client_error("InvalidClientTokenId", "bad"))[1] == EXIT_UNREACHABLE
    sentence, code = explain(client_error("AccessDeniedException", "no"))
    assert code == EXIT_FAILED and "IAM" in sentence
    sentence, code = explain(ValueError("/work/x/y/z.py line 3"))
    assert code == EXIT_FAILED and ".py" not in sentence and "--debug" in sentence


def test_a_lambda_error_document_becomes_its_type_and_message() -> None:
    failure = describe("ClientError", json.dumps(LAMBDA_ERROR))
    assert failure.sentence.startswith("a step failed with ClientError: An error occurred")
    assert "File" not in failure.sentence and ".py" not in failure.sentence
    assert "canary.py" in failure.details  # the trace is kept, for the disclosure


def test_an_older_reason_with_a_truncated_document_is_split_too() -> None:
    reason = f"ClientError: {json.dumps(LAMBDA_ERROR)}"[:300]
    failure = split_reason(reason)
    assert failure.sentence.startswith("a step failed with ClientError")
    assert ".py" not in failure.sentence and failure.details


def test_a_sentence_stays_a_sentence() -> None:
    reason = "candidate error rate 7.0% vs baseline 0.0% at 5%"
    assert split_reason(reason).sentence == reason and split_reason(reason).details == ""


@given(
    error=st.text(max_size=40),
    message=st.text(max_size=200),
    frames=st.lists(st.from_regex(r"/[a-z]{1,8}(/[a-z_]{1,8}){1,4}\.py", fullmatch=True)),
)
def test_no_step_failure_puts_a_file_path_or_a_trace_in_the_sentence(
    error: str, message: str, frames: list[str]
) -> None:
    document = {"errorType": "E", "errorMessage": message + " ".join(frames), "stackTrace": frames}
    for failure in (
        describe(error, json.dumps(document)),
        split_reason(f"Boom: {json.dumps(document)}"),
    ):
        assert "\n" not in failure.sentence and len(failure.sentence) <= 340
        assert not any(frame in failure.sentence for frame in frames)


def test_the_console_shows_the_sentence_and_keeps_the_trace_behind_a_disclosure() -> None:
    state = {
        "strategy": "alias",
        "rolled_back_because": f"ClientError: {json.dumps(LAMBDA_ERROR)}",
        "verdicts": [],
    }
    view = CanaryView.of("Last canary (rolled back)", state, [])
    facts = dict(view.facts)
    assert facts["Rolled back because"].startswith("a step failed with ClientError")
    assert all("stackTrace" not in value and ".py" not in value for value in facts.values())
    assert "canary.py" in view.failure_details
    assert json.loads(view.raw_evidence) == state
