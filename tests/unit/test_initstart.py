"""INIT_START parsing: both log formats, attribution to a function version, and robustness."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollforward.canary.initstart import (
    InitStart,
    LogSource,
    function_version_from_log_stream,
    log_source,
    parse_init_start,
    runtime_arns_seen,
)

ARN_OLD = "arn:aws:lambda:us-east-1::runtime:" + "a" * 64
ARN_NEW = "arn:aws:lambda:us-east-1::runtime:" + "0123456789abcdef" * 4


def text_line(version: str, arn: str) -> str:
    return f"INIT_START Runtime Version: {version}\tRuntime Version ARN: {arn}"


def json_line(version: str, arn: str, function_version: str | None = "$LATEST") -> str:
    record: dict[str, object] = {
        "initializationType": "on-demand",
        "phase": "init",
        "runtimeVersion": version,
        "runtimeVersionArn": arn,
        "functionName": "orders",
    }
    if function_version is not None:
        record["functionVersion"] = function_version
    return json.dumps(
        {"time": "2025-05-01T12:00:00.000Z", "type": "platform.initStart", "record": record}
    )


@pytest.mark.parametrize(
    "version", ["python:3.13.v14", "python:3.12.mainlinev2.v27", "nodejs:22.mainline.v122"]
)
def test_text_line_yields_version_token_and_arn(version: str) -> None:
    assert parse_init_start(text_line(version, ARN_NEW) + "\n") == InitStart(version, ARN_NEW, None)


def test_text_line_tolerates_spaces_instead_of_the_tab() -> None:
    line = f"INIT_START Runtime Version: python:3.13.v14    Runtime Version ARN: {ARN_NEW}"
    assert parse_init_start(line) == InitStart("python:3.13.v14", ARN_NEW)


def test_json_line_yields_function_version() -> None:
    assert parse_init_start(json_line("nodejs:22.mainline.v122", ARN_NEW, "7")) == InitStart(
        "nodejs:22.mainline.v122", ARN_NEW, "7"
    )


def test_log_stream_name_attributes_text_lines_but_json_version_wins() -> None:
    stream = "2025/05/01/[7]0123456789abcdef0123456789abcdef"
    assert parse_init_start(text_line("python:3.13.v14", ARN_NEW), log_stream_name=stream) == (
        InitStart("python:3.13.v14", ARN_NEW, "7")
    )
    from_json = parse_init_start(
        json_line("python:3.13.v14", ARN_NEW, "$LATEST"), log_stream_name=stream
    )
    assert from_json is not None and from_json.function_version == "$LATEST"


@pytest.mark.parametrize(
    ("stream", "version"),
    [
        ("2025/05/01/[$LATEST]abc123", "$LATEST"),
        ("2025/05/01/[12]abc123", "12"),
        ("2025/05/01/[0]abc123", None),
        ("my-custom-stream", None),
        ("", None),
    ],
)
def test_function_version_from_log_stream(stream: str, version: str | None) -> None:
    assert function_version_from_log_stream(stream) == version


@pytest.mark.parametrize(
    "line",
    [
        "",
        "START RequestId: 8f5f7c1e Version: $LATEST",
        "REPORT RequestId: 8f5f7c1e\tDuration: 2.1 ms\tBilled Duration: 3 ms",
        'INIT_START said the app: {"type": "platform.initStart"}',
        json.dumps({"type": "platform.start", "record": {"requestId": "r", "version": "$LATEST"}}),
    ],
)
def test_other_lines_are_not_init_start(line: str) -> None:
    assert parse_init_start(line) is None


@pytest.mark.parametrize(
    "line",
    [
        # The AWS docs' own example carries a stray character after the 64 hex digits.
        text_line("python:3.13.v14", ARN_NEW + "I"),
        text_line("python:3.13.v14", "arn:aws:lambda:us-east-1:123456789012:function:f"),
        "INIT_START Runtime Version: python:3.13.v14",
        "INIT_START Runtime Version: \tRuntime Version ARN: " + ARN_NEW,
        '{"type": "platform.initStart", "record": ',
        json.dumps({"type": "platform.initStart", "record": "python:3.13.v14"}),
        json.dumps({"type": "platform.initStart", "record": {"runtimeVersion": "python:3.13.v14"}}),
        json_line("python 3.13", ARN_NEW),
        json_line("python:3.13.v14", ARN_NEW.upper()),
        json.dumps(
            {
                "type": "platform.initStart",
                "record": {
                    "runtimeVersion": "v",
                    "runtimeVersionArn": ARN_NEW,
                    "functionVersion": 7,
                },
            }
        ),
        "[" * 100_000 + "platform.initStart",
        # Nested deeper than the JSON decoder's recursion limit.
        '{"type": "platform.initStart", "record": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
)
def test_malformed_init_start_lines_are_none(line: str) -> None:
    assert parse_init_start(line) is None


def test_runtime_arns_seen_filters_by_function_version() -> None:
    stream_7 = "2025/05/01/[7]abc"
    records = [
        parse_init_start(text_line("python:3.13.v14", ARN_NEW), log_stream_name=stream_7),
        parse_init_start(json_line("python:3.13.v12", ARN_OLD, "6")),
        parse_init_start("START RequestId: r Version: 7"),
    ]
    present = [record for record in records if record is not None]
    assert runtime_arns_seen(present) == {ARN_NEW, ARN_OLD}
    assert runtime_arns_seen(present, function_version="7") == {ARN_NEW}
    assert runtime_arns_seen(present, function_version="8") == frozenset()


def test_runtime_arns_seen_parses_raw_lines_and_skips_unattributed_ones_when_filtering() -> None:
    lines = [
        text_line("python:3.13.v14", ARN_NEW),
        json_line("python:3.13.v12", ARN_OLD, "6"),
        "noise",
    ]
    assert runtime_arns_seen(lines) == {ARN_NEW, ARN_OLD}
    # The text line has no version: it cannot vouch for version 6 or any other.
    assert runtime_arns_seen(lines, function_version="6") == {ARN_OLD}


# --- properties ---------------------------------------------------------------------------------

versions = st.from_regex(r"\A[a-z][a-z0-9]{0,9}:[0-9][0-9a-z]{0,5}(\.[0-9a-z]{1,12}){0,3}\Z")
arns = st.builds(
    lambda partition, region, digest: f"arn:{partition}:lambda:{region}::runtime:{digest}",
    st.sampled_from(["aws", "aws-cn", "aws-us-gov"]),
    st.from_regex(r"\A[a-z]{2}(-[a-z]+)+-[0-9]\Z"),
    st.from_regex(r"\A[0-9a-f]{64}\Z"),
)
function_versions = st.one_of(st.just("$LATEST"), st.integers(1, 10**9).map(str))


@given(st.text())
def test_never_raises_on_arbitrary_text(line: str) -> None:
    parse_init_start(line)


@given(
    st.text().map(lambda tail: "INIT_START" + tail)
    | st.text().map(lambda t: '{"type": "platform.initStart"' + t)
)
def test_never_raises_on_text_that_looks_like_init_start(line: str) -> None:
    parse_init_start(line)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_never_raises_on_arbitrary_json_records(record: object) -> None:
    parse_init_start(json.dumps({"type": "platform.initStart", "record": record}))


@given(versions, arns, st.sampled_from(["\t", " ", "\t "]), st.sampled_from(["", "\n", "\r\n"]))
def test_text_lines_round_trip(version: str, arn: str, separator: str, ending: str) -> None:
    line = f"INIT_START Runtime Version: {version}{separator}Runtime Version ARN: {arn}{ending}"
    assert parse_init_start(line) == InitStart(version, arn, None)


@given(versions, arns, function_versions | st.none())
def test_json_lines_round_trip(version: str, arn: str, function_version: str | None) -> None:
    assert parse_init_start(json_line(version, arn, function_version)) == InitStart(
        version, arn, function_version
    )


# --- where and in which format (LoggingConfig) ------------------------------------------------


def test_log_source_defaults_to_text_in_the_functions_own_group() -> None:
    source = log_source({"FunctionName": "orders"})
    assert source == LogSource("/aws/lambda/orders", "Text")
    assert source.filter_pattern == '"INIT_START"'


def test_log_source_follows_a_json_custom_group_logging_config() -> None:
    source = log_source(
        {
            "FunctionName": "orders",
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": "/custom/orders"},
        }
    )
    assert source == LogSource("/custom/orders", "JSON")
    assert "platform.initStart" in source.filter_pattern
    assert "INIT_START" not in source.filter_pattern


@given(
    st.dictionaries(
        st.sampled_from(["LogFormat", "LogGroup", "ApplicationLogLevel"]),
        st.one_of(st.none(), st.text(max_size=20), st.integers()),
    )
)
def test_log_source_never_raises_on_odd_logging_config(config: dict[str, object]) -> None:
    source = log_source({"FunctionName": "orders", "LoggingConfig": config})
    assert source.log_format in {"Text", "JSON"}
    assert source.log_group  # never empty: falls back to /aws/lambda/<name>


def test_log_source_needs_a_function_name() -> None:
    with pytest.raises(ValueError):
        log_source({"LoggingConfig": {"LogFormat": "JSON"}})
