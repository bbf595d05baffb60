"""A failed state-machine step, told as a sentence a person can act on.

A Lambda task's failure reaches the workflow as `{"Error": ..., "Cause": ...}`; for a handler
exception the Cause is Lambda's JSON error document (`errorType`, `errorMessage`, `stackTrace`
with source file paths). The sentence carries the error type and message only; the whole
document stays available as details (the console puts it behind a disclosure).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE = 300

# Errors Step Functions itself raises, in words.
STATES_ERRORS = {
    "States.Timeout": "the step timed out",
    "States.HeartbeatTimeout": "the step stopped sending heartbeats",
    "States.TaskFailed": "the step failed",
    "States.Permissions": "the state machine's role may not run the step",
    "States.Runtime": "the workflow met an input it cannot process",
    "States.ResultPathMatchFailure": "the workflow could not place the step's result",
}
# "<Error>: <Cause>", the shape rollback reasons were written in.
_ERROR_THEN_CAUSE = re.compile(r"^(?P<error>[\w.:-]{1,128}): (?P<cause>[\[{].*)$", re.DOTALL)
_FILE_PATH = re.compile(r"(/[\w.@+-]+){2,}\.py\b(:\d+)?|File \"[^\"]+\"")


@dataclass(frozen=True, slots=True)
class StepFailure:
    """`sentence` for the main view; `details` (may hold a trace) for a disclosure."""

    sentence: str
    details: str = ""


def _one_line(text: str) -> str:
    text = _FILE_PATH.sub("<file>", re.sub(r"\s+", " ", text)).strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def describe(error: str, cause: Any) -> StepFailure:
    """The failure of one step (`$.failure` of a Catch)."""
    error = str(error or "").strip()
    raw = cause if isinstance(cause, str) else json.dumps(cause, default=str)
    document: Any = None
    if isinstance(cause, dict):
        document = cause
    elif raw.strip().startswith("{"):
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
    if isinstance(document, dict) and ("errorMessage" in document or "errorType" in document):
        kind = str(document.get("errorType") or error or "Error")
        message = _one_line(str(document.get("errorMessage", "")))
        sentence = f"a step failed with {kind}" + (f": {message}" if message else "")
        return StepFailure(sentence, json.dumps(document, indent=2, default=str))
    if document is None and '"errorMessage"' in raw:  # a truncated Lambda error document
        found = re.search(r'"errorMessage"\s*:\s*"((?:[^"\\]|\\.)*)', raw)
        kind_found = re.search(r'"errorType"\s*:\s*"([^"]*)"', raw)
        kind = kind_found.group(1) if kind_found else error or "Error"
        message = _one_line(found.group(1)) if found else ""
        return StepFailure(f"a step failed with {kind}" + (f": {message}" if message else ""), raw)
    words = STATES_ERRORS.get(error)
    if words:
        text = _one_line(raw)
        return StepFailure(words + (f" ({text})" if text else ""), raw)
    if not raw.strip():
        return StepFailure(f"a step failed ({error or 'no error given'})")
    return StepFailure(
        f"a step failed ({error or 'error'}): {_one_line(raw)}", raw if len(raw) > 80 else ""
    )


def split_reason(reason: str) -> StepFailure:
    """A stored reason: already a sentence, or "<Error>: <Cause document>" (older records)."""
    match = _ERROR_THEN_CAUSE.match(reason.strip())
    if match:
        return describe(match["error"], match["cause"])
    if _FILE_PATH.search(reason) or "Traceback" in reason:
        return StepFailure(_one_line(reason.split("Traceback")[0]) or "a step failed", reason)
    return StepFailure(reason)
