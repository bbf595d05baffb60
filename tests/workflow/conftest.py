"""This tier runs on the embedded AWS."""

from tests.aws_fixtures import aws, throttled_aws

__all__ = ["aws", "throttled_aws"]
