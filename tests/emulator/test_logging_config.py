"""Lambda `LoggingConfig` in the embedded AWS: stored and answered as AWS does, and honoured by
simulated cold starts (INIT_START line in Text, `platform.initStart` record in JSON, written to
the configured log group). Rows in docs/parity/logs-cloudwatch.md."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from rollforward.canary.initstart import log_source, parse_init_start

from emulator import traffic
from emulator.inprocess import EmbeddedAws

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _traffic_installed() -> None:
    traffic.install()


@pytest.fixture
def lam(aws: EmbeddedAws) -> Any:
    return boto3.client("lambda", region_name=REGION)


@pytest.fixture
def logs(aws: EmbeddedAws) -> Any:
    return boto3.client("logs", region_name=REGION)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def _create(lam: Any, name: str, **extra: Any) -> dict[str, Any]:
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName=f"role-{name}", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    return dict(
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": _zip()},
            **extra,
        )
    )


def _messages(logs: Any, group: str) -> list[tuple[str, str]]:
    events = logs.filter_log_events(logGroupName=group)["events"]
    return [(event["logStreamName"], event["message"]) for event in events]


def test_default_logging_config_is_text_in_the_functions_own_group(lam: Any) -> None:
    created = _create(lam, "plain")
    expected = {"LogFormat": "Text", "LogGroup": "/aws/lambda/plain"}
    assert created["LoggingConfig"] == expected
    assert lam.get_function(FunctionName="plain")["Configuration"]["LoggingConfig"] == expected
    assert lam.get_function_configuration(FunctionName="plain")["LoggingConfig"] == expected


def test_json_logging_config_is_stored_with_default_levels_and_kept_by_published_versions(
    lam: Any,
) -> None:
    _create(lam, "structured", LoggingConfig={"LogFormat": "JSON", "LogGroup": "/custom/app"})
    expected = {
        "LogFormat": "JSON",
        "LogGroup": "/custom/app",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
    }
    assert lam.get_function(FunctionName="structured")["Configuration"]["LoggingConfig"] == expected
    version = lam.publish_version(FunctionName="structured")["Version"]
    updated = lam.update_function_configuration(
        FunctionName="structured", LoggingConfig={"LogFormat": "Text"}
    )
    assert updated["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/structured"}
    published = lam.get_function_configuration(FunctionName="structured", Qualifier=version)
    assert published["LoggingConfig"] == expected  # the version keeps what it was published with


def test_log_levels_with_text_format_are_refused_and_change_nothing(lam: Any) -> None:
    _create(lam, "levels")
    with pytest.raises(ClientError) as refused:
        lam.update_function_configuration(
            FunctionName="levels",
            LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"},
            Timeout=30,
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    after = lam.get_function_configuration(FunctionName="levels")
    assert after["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/levels"}
    assert after["Timeout"] == 3


def test_text_cold_start_writes_init_start_line_to_the_custom_group(lam: Any, logs: Any) -> None:
    _create(lam, "texty", LoggingConfig={"LogFormat": "Text", "LogGroup": "/custom/texty"})
    lam.invoke(FunctionName="texty")
    (stream, message), *more = _messages(logs, "/custom/texty")
    assert not more
    assert message.startswith("INIT_START Runtime Version: ")
    assert parse_init_start(message, log_stream_name=stream) is not None
    with pytest.raises(ClientError):  # nothing went to the default group
        logs.filter_log_events(logGroupName="/aws/lambda/texty")


def test_json_cold_start_writes_platform_init_start_record_to_the_custom_group(
    lam: Any, logs: Any
) -> None:
    created = _create(
        lam, "jsony", LoggingConfig={"LogFormat": "JSON", "LogGroup": "/custom/jsony"}
    )
    arn = created["RuntimeVersionConfig"]["RuntimeVersionArn"]
    lam.invoke(FunctionName="jsony")
    [(stream, message)] = _messages(logs, "/custom/jsony")
    record = json.loads(message)
    assert set(record) == {"time", "type", "record"}
    assert record["type"] == "platform.initStart"
    assert record["time"].endswith("Z")
    assert record["record"] == {
        "initializationType": "on-demand",
        "phase": "init",
        "runtimeVersion": record["record"]["runtimeVersion"],
        "runtimeVersionArn": arn,
        "functionName": "jsony",
        "functionVersion": "$LATEST",
    }
    assert "INIT_START" not in message
    parsed = parse_init_start(message, log_stream_name=stream)
    assert parsed is not None and parsed.runtime_version_arn == arn
    # The product finds it where and how the configuration says.
    source = log_source(lam.get_function_configuration(FunctionName="jsony"))
    found = logs.filter_log_events(
        logGroupName=source.log_group, filterPattern=source.filter_pattern
    )["events"]
    assert [event["message"] for event in found] == [message]


def test_changing_logging_config_is_a_new_execution_environment(lam: Any, logs: Any) -> None:
    _create(lam, "moving")
    lam.invoke(FunctionName="moving")
    lam.update_function_configuration(
        FunctionName="moving", LoggingConfig={"LogFormat": "JSON", "LogGroup": "/custom/moving"}
    )
    lam.invoke(FunctionName="moving")
    assert len(_messages(logs, "/aws/lambda/moving")) == 1
    assert json.loads(_messages(logs, "/custom/moving")[0][1])["type"] == "platform.initStart"
