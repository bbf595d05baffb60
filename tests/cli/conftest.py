"""The CLI and console without AWS: argument parsing, error sentences, rendering. The CLI
builds boto3 clients (never reached here), so these tests import boto3 and are not unit tests."""
