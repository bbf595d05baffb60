"""The CLI and console: argument parsing, error sentences, rendering, and a few commands against
the embedded AWS. The CLI builds boto3 clients, so these are not unit tests."""

from tests.aws_fixtures import aws, throttled_aws

__all__ = ["aws", "throttled_aws"]
