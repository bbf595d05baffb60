"""Every boto3 session of the embedded AWS's process shares one botocore loader."""

from __future__ import annotations

import boto3

from emulator.inprocess import EmbeddedAws


def test_fresh_sessions_share_one_loader_and_its_paths_do_not_grow(aws: EmbeddedAws) -> None:
    first, second = boto3.Session(), boto3.Session()
    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    paths = list(loader.search_paths)
    boto3.Session()  # boto3 appends its resource path to the (shared) loader again
    assert list(loader.search_paths) == paths
    # Clients and resources of a fresh session still work against the embedded AWS.
    assert boto3.Session().client("sts").get_caller_identity()["Account"] == "123456789012"
    assert list(boto3.Session().resource("s3").buckets.all()) == []
