import boto3


def test_embedded_aws_serves_lambda(aws):
    client = boto3.client("lambda")
    assert client.list_functions()["Functions"] == []
