"""A function update takes a while (docs/parity/validation.md): `LastUpdateStatus` reads
`InProgress`, and the calls that change the function again are refused meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator import mutations
from emulator.lambda_api.updates import update_window
from emulator.scenario import wait_until_updated
from tests.emulator.test_runtime_management import REGION, _create, _role, _zip

IN_PROGRESS_MESSAGE = (
    "The operation cannot be performed at this time. An update is in progress for resource: "
)


@pytest.fixture
def lam(aws: Any) -> Iterator[Any]:
    client = boto3.client("lambda", region_name=REGION)
    _create(client, _role(boto3.client("iam", region_name=REGION)))
    # Long enough that the test's next call always lands inside the update, however slow.
    with update_window(30.0):
        yield client


def _refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    return dict(refused.value.response)


@pytest.mark.parametrize(
    "update",
    [
        lambda lam: lam.update_function_configuration(FunctionName="fn", Description="d"),
        lambda lam: lam.update_function_code(FunctionName="fn", ZipFile=_zip("x = 1\n")),
    ],
    ids=["configuration", "code"],
)
def test_an_update_reads_in_progress_and_refuses_the_next_change(lam: Any, update: Any) -> None:
    answer = update(lam)
    assert answer["LastUpdateStatus"] == "InProgress"
    assert lam.get_function_configuration(FunctionName="fn")["LastUpdateStatus"] == "InProgress"
    assert lam.get_function(FunctionName="fn")["Configuration"]["LastUpdateStatus"] == "InProgress"
    before = mutations.snapshot()

    for call, kwargs in (
        (lam.publish_version, {"FunctionName": "fn"}),
        (lam.update_function_configuration, {"FunctionName": "fn", "Timeout": 9}),
        (lam.update_function_code, {"FunctionName": "fn", "ZipFile": _zip("x = 2\n")}),
    ):
        response = _refused(call, **kwargs)
        assert response["Error"]["Code"] == "ResourceConflictException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert response["Error"]["Message"] == IN_PROGRESS_MESSAGE + answer["FunctionArn"]

    assert mutations.snapshot() == before
    assert lam.list_versions_by_function(FunctionName="fn")["Versions"][1:] == []
    assert lam.get_function_configuration(FunctionName="fn")["Timeout"] != 9


def test_reads_aliases_tags_and_runtime_settings_are_not_refused(lam: Any) -> None:
    with update_window(0.0):
        lam.publish_version(FunctionName="fn")
    lam.update_function_configuration(FunctionName="fn", Description="d")

    function_arn = lam.get_function_configuration(FunctionName="fn")["FunctionArn"]
    lam.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
    lam.tag_resource(Resource=function_arn, Tags={"team": "payments"})
    lam.put_runtime_management_config(FunctionName="fn", UpdateRuntimeOn="FunctionUpdate")
    # A published version does not update: it reads Successful throughout.
    assert lam.get_function_configuration(FunctionName="fn", Qualifier="1")["LastUpdateStatus"] == (
        "Successful"
    )


def test_a_caller_that_waits_for_the_update_may_change_the_function_again(lam: Any) -> None:
    with update_window(0.3):
        lam.update_function_configuration(FunctionName="fn", Description="d")
        wait_until_updated(lam, "fn")

        assert lam.get_function_configuration(FunctionName="fn")["LastUpdateStatus"] == (
            "Successful"
        )
        assert lam.publish_version(FunctionName="fn")["Version"] == "1"


def test_a_dry_run_opens_no_update(lam: Any) -> None:
    lam.update_function_code(FunctionName="fn", ZipFile=_zip("x = 1\n"), DryRun=True)

    assert lam.get_function_configuration(FunctionName="fn")["LastUpdateStatus"] == "Successful"
    assert lam.publish_version(FunctionName="fn")["Version"] == "1"
