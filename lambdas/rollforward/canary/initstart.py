"""INIT_START log lines: the ground truth of which runtime version a function actually ran.

Lambda writes one INIT_START line to CloudWatch Logs per cold start, in one of two formats:

- text: ``INIT_START Runtime Version: python:3.13.v14<TAB>Runtime Version ARN: arn:aws:lambda:
  us-east-1::runtime:<64 hex>`` (no function version in the line; it is in the log stream name,
  ``2025/05/01/[7]<id>``);
- JSON log format: ``{"time": ..., "type": "platform.initStart", "record": {"runtimeVersion":
  ..., "runtimeVersionArn": ..., "functionVersion": ..., ...}}``.

Where and in which format is the function version's `LoggingConfig` (`log_source`): the
`LogGroup` (default ``/aws/lambda/<name>``) and the `LogFormat`, which also picks the
CloudWatch Logs filter pattern that finds the record.

The canary uses it to confirm that the candidate really cold-started on the new runtime version
ARN, which no control-plane API can show after the fact. Version strings vary by runtime
(``python:3.12.mainlinev2.v27``, ``nodejs:22.mainline.v122``), so the version is kept as an
opaque token, never parsed further. Parsing never raises: logs are arbitrary text, and one odd
line must not fail a canary step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from rollforward.model import is_runtime_version_arn

_TEXT: Final = re.compile(
    r"^INIT_START\s+Runtime Version:\s*(?P<version>\S+)"
    r"\s+Runtime Version ARN:\s*(?P<arn>\S+)(?:\s.*)?$",
    re.DOTALL,
)
_JSON_TYPE: Final = "platform.initStart"
# Lambda log stream names: YYYY/MM/DD/[<function version>]<environment id>
_LOG_STREAM: Final = re.compile(r"^\d{4}/\d{2}/\d{2}/\[(?P<version>\$LATEST|[1-9][0-9]*)\]")


TEXT_FORMAT: Final = "Text"
JSON_FORMAT: Final = "JSON"


@dataclass(frozen=True, slots=True)
class LogSource:
    """Where a function version's cold starts are logged, and how to find them there."""

    log_group: str
    log_format: str = TEXT_FORMAT

    @property
    def filter_pattern(self) -> str:
        """FilterLogEvents pattern: a term for text lines, a JSON selector for JSON records
        (the text `INIT_START` appears nowhere in a `platform.initStart` record)."""
        if self.log_format == JSON_FORMAT:
            return '{ $.type = "platform.initStart" }'
        return '"INIT_START"'


def log_source(configuration: Mapping[str, Any]) -> LogSource:
    """The log group and format from a FunctionConfiguration (GetFunctionConfiguration's answer).

    Without `LoggingConfig` (the Lambda default) the group is ``/aws/lambda/<FunctionName>``
    in text format. An unknown format is searched as text: a wrong guess finds nothing and the
    canary rolls back, never promotes.
    """
    name = configuration.get("FunctionName")
    if not isinstance(name, str) or not name:
        raise ValueError("a FunctionConfiguration names its function (FunctionName)")
    config = configuration.get("LoggingConfig")
    config = config if isinstance(config, Mapping) else {}
    group = config.get("LogGroup")
    log_format = JSON_FORMAT if config.get("LogFormat") == JSON_FORMAT else TEXT_FORMAT
    return LogSource(
        group if isinstance(group, str) and group else f"/aws/lambda/{name}", log_format
    )


@dataclass(frozen=True, slots=True)
class InitStart:
    """One cold start: the runtime version it ran on and, when known, the function version."""

    runtime_version: str
    runtime_version_arn: str
    function_version: str | None = None


def parse_init_start(line: str, *, log_stream_name: str | None = None) -> InitStart | None:
    """Parse one log message; None when it is not a well-formed INIT_START line.

    `log_stream_name` attributes a text-format line (which has no version) to the function
    version in the stream's name; a JSON line's own `functionVersion` wins.
    """
    if not isinstance(line, str):
        return None
    text = line.strip()
    if text.startswith("INIT_START"):
        parsed = _parse_text(text)
    elif text.startswith("{") and _JSON_TYPE in text:
        parsed = _parse_json(text)
    else:
        return None
    if parsed is None or parsed.function_version is not None or log_stream_name is None:
        return parsed
    return InitStart(
        parsed.runtime_version,
        parsed.runtime_version_arn,
        function_version_from_log_stream(log_stream_name),
    )


def function_version_from_log_stream(log_stream_name: str) -> str | None:
    """`$LATEST` or the version number from a Lambda log stream name; None if not one."""
    match = _LOG_STREAM.match(log_stream_name) if isinstance(log_stream_name, str) else None
    return match.group("version") if match else None


def runtime_arns_seen(
    records: Iterable[str | InitStart], *, function_version: str | None = None
) -> frozenset[str]:
    """Runtime version ARNs that cold starts ran on, from log lines or parsed records.

    With `function_version`, only cold starts known to be of that version count; text-format
    lines carry no version, so parse them with `parse_init_start(line, log_stream_name=...)`
    first or they are left out (an unattributed cold start proves nothing about the candidate).
    """
    seen: set[str] = set()
    for record in records:
        parsed = parse_init_start(record) if isinstance(record, str) else record
        if parsed is None:
            continue
        if function_version is not None and parsed.function_version != function_version:
            continue
        seen.add(parsed.runtime_version_arn)
    return frozenset(seen)


def _parse_text(text: str) -> InitStart | None:
    match = _TEXT.match(text)
    if match is None or not is_runtime_version_arn(match.group("arn")):
        return None
    return InitStart(match.group("version"), match.group("arn"))


def _parse_json(text: str) -> InitStart | None:
    try:
        event: Any = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("type") != _JSON_TYPE:
        return None
    record = event.get("record")
    if not isinstance(record, dict):
        return None
    version = record.get("runtimeVersion")
    arn = record.get("runtimeVersionArn")
    function_version = record.get("functionVersion")
    if not isinstance(version, str) or not version or any(c.isspace() for c in version):
        return None
    if not isinstance(arn, str) or not is_runtime_version_arn(arn):
        return None
    if function_version is not None and (
        not isinstance(function_version, str) or not function_version
    ):
        return None
    return InitStart(version, arn, function_version)
