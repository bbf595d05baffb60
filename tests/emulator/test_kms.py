"""A KMS key's key pair is made on first use (emulator.kms): nothing a caller sees changes."""

from __future__ import annotations

import boto3
from moto.kms.models import kms_backends

from emulator.inprocess import EmbeddedAws

ACCOUNT = "123456789012"


def _key(region: str, key_id: str) -> object:
    return kms_backends[ACCOUNT][region].keys[key_id]


def test_a_created_key_makes_no_key_pair_until_it_is_used(aws: EmbeddedAws) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(Description="ledger")["KeyMetadata"]["KeyId"]
    assert "_private_key" in vars(_key("us-east-1", key_id))
    assert vars(_key("us-east-1", key_id))["_private_key"].__class__.__name__ == "_NotYetMade"
    # Symmetric encryption never needs one.
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    assert vars(_key("us-east-1", key_id))["_private_key"].__class__.__name__ == "_NotYetMade"


def test_a_signing_key_signs_verifies_and_keeps_its_key_pair(aws: EmbeddedAws) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    for spec, algorithm in (("RSA_2048", "RSASSA_PSS_SHA_256"), ("ECC_NIST_P256", "ECDSA_SHA_256")):
        metadata = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]
        assert metadata["KeySpec"] == spec
        key_id = metadata["KeyId"]
        public = kms.get_public_key(KeyId=key_id)
        signature = kms.sign(KeyId=key_id, Message=b"pin", SigningAlgorithm=algorithm)["Signature"]
        verified = kms.verify(
            KeyId=key_id, Message=b"pin", Signature=signature, SigningAlgorithm=algorithm
        )
        assert verified["SignatureValid"] is True
        # The same key pair answers every later call.
        assert kms.get_public_key(KeyId=key_id)["PublicKey"] == public["PublicKey"]


def test_a_replica_shares_its_primary_key_pair(aws: EmbeddedAws) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048", MultiRegion=True)[
        "KeyMetadata"
    ]["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    replica = boto3.client("kms", region_name="eu-west-1")
    assert (
        replica.get_public_key(KeyId=key_id)["PublicKey"]
        == kms.get_public_key(KeyId=key_id)["PublicKey"]
    )
    signature = kms.sign(KeyId=key_id, Message=b"pin", SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert replica.verify(
        KeyId=key_id,
        Message=b"pin",
        Signature=signature["Signature"],
        SigningAlgorithm="RSASSA_PSS_SHA_256",
    )["SignatureValid"]
