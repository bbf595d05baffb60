"""The embedded AWS's Lambda runtime management, exercised only through boto3."""

from __future__ import annotations

import io
import json
import socket
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from emulator.install import install_all
from emulator.lambda_api import caller_identity, rollout
from emulator.scenario import wait_until_updated
from emulator.state import STATE, ApiCall, reset

REGION = "us-east-1"
RUNTIME = "python3.12"


def _zip(source: str = "def handler(event, context):\n    return 'ok'\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


def _role(iam: Any) -> str:
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    return str(
        iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=document)["Role"]["Arn"]
    )


@pytest.fixture
def lam(aws: Any) -> Any:
    return boto3.client("lambda", region_name=REGION)


@pytest.fixture
def role(aws: Any) -> str:
    return _role(boto3.client("iam", region_name=REGION))


def _create(lam: Any, role: str, name: str = "fn", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": RUNTIME,
        "Role": role,
        "Handler": "index.handler",
        "Code": {"ZipFile": _zip()},
    }
    spec.update(extra)
    return dict(lam.create_function(**spec))


def _arns(architecture: str = "x86_64", runtime: str = RUNTIME) -> list[str]:
    """Released runtime version ARNs, oldest first."""
    return [v.arn for v in STATE.catalog.versions(runtime, REGION, architecture)]


def _release() -> str:
    """AWS releases the next runtime version; returns its x86_64 ARN."""
    STATE.catalog.release(RUNTIME, REGION)
    return _arns()[-1]


def _in_use(lam: Any, name: str = "fn", qualifier: str | None = None) -> str:
    kwargs = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
    return str(
        lam.get_function_configuration(**kwargs)["RuntimeVersionConfig"]["RuntimeVersionArn"]
    )


def _pin(lam: Any, arn: str, name: str = "fn", qualifier: str | None = None) -> dict[str, Any]:
    kwargs = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
    return dict(
        lam.put_runtime_management_config(UpdateRuntimeOn="Manual", RuntimeVersionArn=arn, **kwargs)
    )


def _mode(lam: Any, name: str = "fn", qualifier: str | None = None) -> dict[str, Any]:
    kwargs = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
    response = dict(lam.get_runtime_management_config(**kwargs))
    response.pop("ResponseMetadata")
    return response


# ---------------------------------------------------------------------------------------------
# Get / Put and their per-version semantics
# ---------------------------------------------------------------------------------------------


def test_new_function_is_auto_on_the_newest_runtime_version(lam: Any, role: str) -> None:
    created = _create(lam, role)

    assert _mode(lam) == {
        "UpdateRuntimeOn": "Auto",
        "FunctionArn": created["FunctionArn"] + ":$LATEST",
    }
    newest = {"RuntimeVersionArn": _arns()[-1]}
    assert created["RuntimeVersionConfig"] == newest
    assert lam.get_function_configuration(FunctionName="fn")["RuntimeVersionConfig"] == newest
    assert lam.get_function(FunctionName="fn")["Configuration"]["RuntimeVersionConfig"] == newest


def test_list_calls_do_not_carry_the_runtime_version(lam: Any, role: str) -> None:
    _create(lam, role)
    lam.publish_version(FunctionName="fn")

    assert all("RuntimeVersionConfig" not in f for f in lam.list_functions()["Functions"])
    versions = lam.list_versions_by_function(FunctionName="fn")["Versions"]
    assert len(versions) == 2
    assert all("RuntimeVersionConfig" not in v for v in versions)


def test_manual_put_pins_and_runs_the_given_version(lam: Any, role: str) -> None:
    created = _create(lam, role)
    oldest = _arns()[0]

    put = _pin(lam, oldest)

    assert put["UpdateRuntimeOn"] == "Manual"
    assert put["RuntimeVersionArn"] == oldest
    assert put["FunctionArn"] == created["FunctionArn"] + ":$LATEST"
    assert _mode(lam)["RuntimeVersionArn"] == oldest
    assert _in_use(lam) == oldest


def test_leaving_manual_keeps_the_pinned_version_until_an_update(lam: Any, role: str) -> None:
    _create(lam, role)
    oldest = _arns()[0]
    _pin(lam, oldest)

    response = lam.put_runtime_management_config(FunctionName="fn", UpdateRuntimeOn="Auto")

    assert "RuntimeVersionArn" not in response
    assert _mode(lam) == {"UpdateRuntimeOn": "Auto", "FunctionArn": response["FunctionArn"]}
    assert _in_use(lam) == oldest
    lam.update_function_configuration(FunctionName="fn", Description="touch")
    assert _in_use(lam) == _arns()[-1]


def test_the_setting_belongs_to_one_version(lam: Any, role: str) -> None:
    created = _create(lam, role)
    lam.publish_version(FunctionName="fn")
    oldest = _arns()[0]

    _pin(lam, oldest, qualifier="1")

    assert _mode(lam, qualifier="1") == {
        "UpdateRuntimeOn": "Manual",
        "RuntimeVersionArn": oldest,
        "FunctionArn": created["FunctionArn"] + ":1",
    }
    assert _mode(lam)["UpdateRuntimeOn"] == "Auto"
    assert _mode(lam, qualifier="$LATEST")["UpdateRuntimeOn"] == "Auto"
    assert _in_use(lam, qualifier="1") == oldest
    assert _in_use(lam) == _arns()[-1]


def test_qualifier_may_come_with_the_function_name_or_arn(lam: Any, role: str) -> None:
    created = _create(lam, role)
    lam.publish_version(FunctionName="fn")
    _pin(lam, _arns()[0], qualifier="1")

    assert _mode(lam, name="fn:1")["UpdateRuntimeOn"] == "Manual"
    assert _mode(lam, name=created["FunctionArn"] + ":1")["UpdateRuntimeOn"] == "Manual"
    assert _mode(lam, name=created["FunctionArn"])["UpdateRuntimeOn"] == "Auto"
    assert _mode(lam, name="123456789012:function:fn:1")["UpdateRuntimeOn"] == "Manual"


def test_published_version_inherits_mode_and_runtime_version(lam: Any, role: str) -> None:
    _create(lam, role)
    oldest = _arns()[0]
    _pin(lam, oldest)

    version = lam.publish_version(FunctionName="fn")["Version"]
    lam.put_runtime_management_config(FunctionName="fn", UpdateRuntimeOn="Auto")
    lam.update_function_configuration(FunctionName="fn", Description="moved on")

    assert _mode(lam, qualifier=version)["UpdateRuntimeOn"] == "Manual"
    assert _mode(lam, qualifier=version)["RuntimeVersionArn"] == oldest
    assert _in_use(lam, qualifier=version) == oldest
    assert _in_use(lam) == _arns()[-1]


def test_image_functions_have_no_runtime_version(lam: Any, role: str) -> None:
    from emulator.ecr import push_image  # the image must exist: Lambda resolves it in ECR

    push_image("app", "1", account_id="123456789012", region="us-east-1")
    lam.create_function(
        FunctionName="img",
        Role=role,
        PackageType="Image",
        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1"},
    )

    assert "RuntimeVersionConfig" not in lam.get_function_configuration(FunctionName="img")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.get_runtime_management_config(FunctionName="img")


# ---------------------------------------------------------------------------------------------
# Errors, as AWS sends them
# ---------------------------------------------------------------------------------------------


def _captured_bodies(client: Any) -> list[dict[str, Any]]:
    """The raw JSON bodies of the client's responses, as they came over the wire."""
    bodies: list[dict[str, Any]] = []

    def capture(response_dict: dict[str, Any], **_: Any) -> None:
        bodies.append(json.loads(response_dict["body"] or b"{}"))

    client.meta.events.register("before-parse.lambda.*", capture)
    return bodies


@pytest.mark.parametrize(
    ("put", "why"),
    [
        ({"UpdateRuntimeOn": "Manual"}, "Manual without an ARN"),
        ({"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": "arn:aws:lambda:us-east-1::runtime:abc"}, "malformed ARN"),
        ({"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": "arn:aws:lambda:us-east-1::runtime:" + "0" * 64}, "ARN AWS never released"),
        ({"UpdateRuntimeOn": "Auto", "RuntimeVersionArn": "RELEASED"}, "ARN without Manual"),
        ({"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": "ARM64"}, "another architecture's ARN"),
        ({"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": "PYTHON311"}, "another runtime's ARN"),
        ({"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": "EU_WEST_1"}, "another region's ARN"),
    ],
)  # fmt: skip
def test_invalid_put_is_refused_and_changes_nothing(
    lam: Any, role: str, put: dict[str, str], why: str
) -> None:
    _create(lam, role)
    placeholders = {
        "RELEASED": _arns()[0],
        "ARM64": _arns("arm64")[0],
        "PYTHON311": _arns(runtime="python3.11")[0],
        "EU_WEST_1": STATE.catalog.versions(RUNTIME, "eu-west-1", "x86_64")[0].arn,
    }
    put = {k: placeholders.get(v, v) for k, v in put.items()}
    bodies = _captured_bodies(lam)

    with pytest.raises(lam.exceptions.InvalidParameterValueException) as raised:
        lam.put_runtime_management_config(FunctionName="fn", **put)

    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400, why
    assert (
        error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]
        == "InvalidParameterValueException"
    )
    assert bodies[-1] == {"Type": "User", "message": error["Error"]["Message"]}
    assert _mode(lam)["UpdateRuntimeOn"] == "Auto"
    assert _in_use(lam) == _arns()[-1]


def test_alias_qualifier_is_refused(lam: Any, role: str) -> None:
    _create(lam, role)
    lam.publish_version(FunctionName="fn")
    lam.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")

    with pytest.raises(
        lam.exceptions.InvalidParameterValueException, match="Aliases are not allowed"
    ):
        lam.get_runtime_management_config(FunctionName="fn", Qualifier="live")
    with pytest.raises(
        lam.exceptions.InvalidParameterValueException, match="Aliases are not allowed"
    ):
        _pin(lam, _arns()[0], name="fn:live")


def test_conflicting_qualifiers_are_refused(lam: Any, role: str) -> None:
    _create(lam, role)
    lam.publish_version(FunctionName="fn")

    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="derived qualifier"):
        lam.get_runtime_management_config(FunctionName="fn:1", Qualifier="$LATEST")


@pytest.mark.parametrize(("name", "qualifier"), [("missing", None), ("fn", "7"), ("missing", "1")])
def test_unknown_function_or_version_is_not_found(
    lam: Any, role: str, name: str, qualifier: str | None
) -> None:
    _create(lam, role)
    bodies = _captured_bodies(lam)
    kwargs = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})

    for call in (
        lambda: lam.get_runtime_management_config(**kwargs),
        lambda: lam.put_runtime_management_config(UpdateRuntimeOn="Auto", **kwargs),
    ):
        with pytest.raises(lam.exceptions.ResourceNotFoundException) as raised:
            call()
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        message = raised.value.response["Error"]["Message"]
        assert message.startswith(
            "Function not found: arn:aws:lambda:us-east-1:123456789012:function:"
        )
        assert message.endswith(f"{name}:{qualifier}" if qualifier else name)
        assert bodies[-1] == {"Type": "User", "message": message}


def test_unknown_update_mode_is_a_validation_error(lam: Any, role: str) -> None:
    _create(lam, role)

    with pytest.raises(lam.exceptions.ClientError) as raised:
        lam.put_runtime_management_config(FunctionName="fn", UpdateRuntimeOn="Sometimes")

    assert raised.value.response["Error"]["Code"] == "ValidationException"


# ---------------------------------------------------------------------------------------------
# The two-phase rollout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["Auto", "FunctionUpdate"])
@pytest.mark.parametrize(
    "update",
    [
        lambda lam: lam.update_function_configuration(FunctionName="fn", Description="d"),
        lambda lam: lam.update_function_code(FunctionName="fn", ZipFile=_zip("x = 1\n")),
    ],
    ids=["configuration", "code"],
)
def test_phase_one_updates_move_latest_to_the_newest(
    lam: Any, role: str, mode: str, update: Any
) -> None:
    _create(lam, role)
    lam.put_runtime_management_config(FunctionName="fn", UpdateRuntimeOn=mode)
    before = _in_use(lam)
    released = _release()
    assert _in_use(lam) == before  # a release alone moves nothing

    update(lam)

    assert _in_use(lam) == released


def test_phase_one_applies_on_create(lam: Any, role: str) -> None:
    released = _release()
    _create(lam, role)
    assert _in_use(lam) == released


def test_manual_does_not_move_on_update(lam: Any, role: str) -> None:
    _create(lam, role)
    oldest = _arns()[0]
    _pin(lam, oldest)
    _release()

    lam.update_function_configuration(FunctionName="fn", Description="d")
    wait_until_updated(lam, "fn")
    lam.update_function_code(FunctionName="fn", ZipFile=_zip("x = 2\n"))

    assert _in_use(lam) == oldest


def test_publish_with_code_update_snapshots_the_new_runtime_version(lam: Any, role: str) -> None:
    _create(lam, role)
    lam.put_runtime_management_config(FunctionName="fn", UpdateRuntimeOn="FunctionUpdate")
    released = _release()

    published = lam.update_function_code(FunctionName="fn", ZipFile=_zip("x = 3\n"), Publish=True)

    assert published["Version"] == "1"
    assert published["RuntimeVersionConfig"] == {"RuntimeVersionArn": released}
    assert _mode(lam, qualifier="1")["UpdateRuntimeOn"] == "FunctionUpdate"


def test_phase_two_moves_auto_versions_only(lam: Any, role: str) -> None:
    auto = _create(lam, role, "auto")["FunctionArn"]
    lam.publish_version(FunctionName="auto")
    _create(lam, role, "frozen")
    lam.put_runtime_management_config(FunctionName="frozen", UpdateRuntimeOn="FunctionUpdate")
    lam.update_function_configuration(FunctionName="frozen", Description="publish me")
    wait_until_updated(lam, "frozen")
    lam.publish_version(FunctionName="frozen")
    _create(lam, role, "pinned")
    oldest = _arns()[0]
    _pin(lam, oldest, name="pinned")
    before = _in_use(lam, "frozen")
    released = _release()

    moved = rollout()

    assert sorted(moved) == sorted([f"{auto}:$LATEST", f"{auto}:1"])
    assert _in_use(lam, "auto") == released
    assert _in_use(lam, "auto", qualifier="1") == released
    assert _in_use(lam, "frozen", qualifier="1") == before
    assert _in_use(lam, "frozen") == before  # FunctionUpdate waits for its next update
    assert _in_use(lam, "pinned") == oldest
    assert rollout() == []


def test_phase_two_filters_by_region_and_runtime(lam: Any, role: str) -> None:
    _create(lam, role)
    released = _release()

    assert rollout(region="eu-west-1") == []
    assert rollout(runtime="python3.13") == []
    assert len(rollout(region=REGION, runtime=RUNTIME)) == 1
    assert _in_use(lam) == released


def test_manual_latest_refuses_runtime_and_architecture_changes(lam: Any, role: str) -> None:
    _create(lam, role)
    oldest = _arns()[0]
    _pin(lam, oldest)

    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="runtime"):
        lam.update_function_configuration(FunctionName="fn", Runtime="python3.13", Description="x")
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="architecture"):
        lam.update_function_code(FunctionName="fn", ZipFile=_zip(), Architectures=["arm64"])

    configuration = lam.get_function_configuration(FunctionName="fn")
    assert configuration["Runtime"] == RUNTIME
    assert configuration["Description"] == ""
    assert configuration["Architectures"] == ["x86_64"]
    assert configuration["RuntimeVersionConfig"] == {"RuntimeVersionArn": oldest}
    # Unchanged runtime is not a runtime change.
    lam.update_function_configuration(FunctionName="fn", Runtime=RUNTIME, Description="ok")


def test_auto_follows_runtime_and_architecture_changes(lam: Any, role: str) -> None:
    _create(lam, role)

    lam.update_function_configuration(FunctionName="fn", Runtime="python3.13")
    assert _in_use(lam) == _arns(runtime="python3.13")[-1]
    wait_until_updated(lam, "fn")
    lam.update_function_code(FunctionName="fn", ZipFile=_zip(), Architectures=["arm64"])
    assert _in_use(lam) == _arns("arm64", runtime="python3.13")[-1]


def test_publish_version_publishes_only_after_a_change(lam: Any, role: str) -> None:
    _create(lam, role)
    lam.update_function_configuration(FunctionName="fn", Description="before the first")
    wait_until_updated(lam, "fn")

    assert lam.publish_version(FunctionName="fn")["Version"] == "1"
    assert lam.publish_version(FunctionName="fn")["Version"] == "1"
    lam.update_function_configuration(FunctionName="fn", Description="a change")
    wait_until_updated(lam, "fn")
    assert lam.publish_version(FunctionName="fn")["Version"] == "2"


# ---------------------------------------------------------------------------------------------
# CloudTrail
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def api_calls(aws: Any) -> Iterator[list[ApiCall]]:
    calls: list[ApiCall] = []
    STATE.api_call_listeners.append(calls.append)
    yield calls
    STATE.api_call_listeners.remove(calls.append)


def test_put_is_recorded_with_the_iam_users_identity(role: str, api_calls: list[ApiCall]) -> None:
    iam = boto3.client("iam", region_name=REGION)
    user = iam.create_user(UserName="alice")["User"]
    iam.put_user_policy(
        UserName="alice",
        PolicyName="lambda",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["lambda:*", "iam:PassRole"], "Resource": "*"}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = boto3.client(
        "lambda",
        region_name=REGION,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    _create(alice, role)
    lam = boto3.client("lambda", region_name=REGION)
    lam.publish_version(FunctionName="fn")
    pinned = _arns()[0]
    api_calls.clear()

    put = _pin(alice, pinned, qualifier="1")

    [call] = api_calls
    assert call.event_source == "lambda.amazonaws.com"
    assert call.event_name == "PutRuntimeManagementConfig"
    assert (call.account_id, call.region) == ("123456789012", REGION)
    assert call.request_parameters == {
        "functionName": "fn",
        "qualifier": "1",
        "updateRuntimeOn": "Manual",
        "runtimeVersionArn": pinned,
    }
    assert call.response_elements == {
        "updateRuntimeOn": "Manual",
        "functionArn": put["FunctionArn"],
        "runtimeVersionArn": pinned,
    }
    assert call.user_identity["type"] == "IAMUser"
    assert call.user_identity["arn"] == user["Arn"] == "arn:aws:iam::123456789012:user/alice"
    assert call.user_identity["principalId"] == user["UserId"]
    assert call.user_identity["accessKeyId"] == key["AccessKeyId"]
    assert call.user_identity["accountId"] == "123456789012"


def test_assumed_role_identity(role: str, api_calls: list[ApiCall]) -> None:
    # Root may not assume roles (AWS refuses it): an IAM user allowed to, into a role that
    # trusts the account and may manage functions.
    iam = boto3.client("iam", region_name=REGION)
    allow = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["lambda:*", "iam:PassRole", "sts:AssumeRole"],
                "Resource": "*",
            }
        ],
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.update_assume_role_policy(RoleName="fn-role", PolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="fn-role", PolicyName="lambda", PolicyDocument=json.dumps(allow))
    iam.create_user(UserName="assumer")
    iam.put_user_policy(UserName="assumer", PolicyName="a", PolicyDocument=json.dumps(allow))
    key = iam.create_access_key(UserName="assumer")["AccessKey"]
    sts = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    credentials = sts.assume_role(RoleArn=role, RoleSessionName="oncall")["Credentials"]
    session = boto3.client(
        "lambda",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    _create(session, role)

    identity = api_calls[-1].user_identity
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == "arn:aws:sts::123456789012:assumed-role/fn-role/oncall"
    assert identity["principalId"].endswith(":oncall")
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == role


def test_each_mutating_call_is_recorded_once(lam: Any, role: str, api_calls: list[ApiCall]) -> None:
    _create(lam, role)
    lam.update_function_configuration(
        FunctionName="fn", Description="d", Environment={"Variables": {"MY_VAR": "secret"}}
    )
    wait_until_updated(lam, "fn")
    lam.update_function_code(FunctionName="fn", ZipFile=_zip("y = 1\n"))
    wait_until_updated(lam, "fn")
    lam.publish_version(FunctionName="fn")
    lam.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
    lam.update_alias(
        FunctionName="fn", Name="live", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}
    )
    lam.get_function(FunctionName="fn")  # reads are not recorded
    lam.delete_function(FunctionName="fn")

    assert [c.event_name for c in api_calls] == [
        "CreateFunction20150331",
        "UpdateFunctionConfiguration20150331v2",
        "UpdateFunctionCode20150331v2",
        "PublishVersion20150331",
        "CreateAlias20150331",
        "UpdateAlias20150331",
        "DeleteFunction20150331",
    ]
    by_name = {c.event_name: c for c in api_calls}
    configuration = by_name["UpdateFunctionConfiguration20150331v2"].request_parameters
    assert configuration["functionName"] == "fn"
    assert configuration["environment"] == {"variables": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    assert (
        by_name["UpdateFunctionCode20150331v2"].request_parameters["zipFile"]
        == "HIDDEN_DUE_TO_SECURITY_REASONS"
    )
    alias = by_name["UpdateAlias20150331"].request_parameters
    assert alias["name"] == "live"
    assert alias["routingConfig"] == {"additionalVersionWeights": {"1": 0.5}}
    published = by_name["PublishVersion20150331"].response_elements
    assert published is not None
    assert published["version"] == "1"
    assert by_name["DeleteFunction20150331"].response_elements is None


def test_refused_calls_are_not_recorded(lam: Any, role: str, api_calls: list[ApiCall]) -> None:
    _create(lam, role)
    api_calls.clear()

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_runtime_management_config(FunctionName="fn", UpdateRuntimeOn="Manual")

    assert api_calls == []


def test_unknown_access_key_is_the_account_root() -> None:
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWN000000000/20260101/eu-west-1/lambda/aws4_request, "
        "SignedHeaders=host, Signature=abc"
    )
    assert caller_identity({"authorization": authorization}, "111122223333") == {
        "type": "Root",
        "principalId": "111122223333",
        "arn": "arn:aws:iam::111122223333:root",
        "accountId": "111122223333",
        "accessKeyId": "AKIAUNKNOWN000000000",
    }
    assert caller_identity({}, "111122223333")["arn"] == "arn:aws:iam::111122223333:root"


# ---------------------------------------------------------------------------------------------
# Server mode: the same patches serve moto's server
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_server_mode_round_trip_and_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    install_all()
    reset()
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        lam = boto3.client("lambda", endpoint_url=endpoint, config=config)
        role = _role(boto3.client("iam", endpoint_url=endpoint))
        lam.create_function(
            FunctionName="served",
            Runtime=RUNTIME,
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": _zip()},
        )
        oldest = _arns()[0]

        put = _pin(lam, oldest, name="served")

        assert put["FunctionArn"].endswith(":function:served:$LATEST")
        assert _mode(lam, name="served")["RuntimeVersionArn"] == oldest
        assert _in_use(lam, name="served") == oldest
        with pytest.raises(lam.exceptions.InvalidParameterValueException):
            lam.put_runtime_management_config(FunctionName="served", UpdateRuntimeOn="Manual")

        STATE.throttle.enabled = True
        STATE.throttle.shared_rate = 1.0
        lam.get_runtime_management_config(FunctionName="served")
        with pytest.raises(lam.exceptions.TooManyRequestsException) as raised:
            lam.get_runtime_management_config(FunctionName="served")
        assert raised.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    finally:
        reset()
        server.stop()
