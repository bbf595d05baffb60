"""UpdateAlias honours RevisionId, as Lambda does."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.scenario import wait_until_updated
from tests.e2e.harness import code_zip


def test_a_stale_revision_id_is_refused_and_changes_nothing(aws):
    lam = boto3.client("lambda")
    role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    lam.create_function(
        FunctionName="f",
        Runtime="python3.12",
        Handler="app.handler",
        Role=role,
        Code={"ZipFile": code_zip()},
    )
    lam.publish_version(FunctionName="f")
    lam.update_function_configuration(FunctionName="f", Description="v2")
    wait_until_updated(lam, "f")
    lam.publish_version(FunctionName="f")
    read = lam.create_alias(FunctionName="f", Name="live", FunctionVersion="1")["RevisionId"]

    updated = lam.update_alias(FunctionName="f", Name="live", FunctionVersion="2", RevisionId=read)
    assert updated["RevisionId"] != read

    with pytest.raises(ClientError) as refused:
        lam.update_alias(FunctionName="f", Name="live", FunctionVersion="1", RevisionId=read)
    assert refused.value.response["Error"]["Code"] == "PreconditionFailedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert lam.get_alias(FunctionName="f", Name="live")["FunctionVersion"] == "2"
