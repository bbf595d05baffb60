"""S3 refuses the names AWS refuses (moto checks only a bucket name's length).

S3 speaks rest-xml and moto dispatches it outside `BaseResponse.call_action`, so the model
check of `emulator.validation` never sees it; botocore's model has no patterns for bucket
names or keys either: the rules are the S3 User Guide's.

- Bucket names (CreateBucket; "General purpose bucket naming rules"): 3-63 characters of
  lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit,
  no two adjacent dots, not shaped like an IPv4 address, none of the reserved prefixes and
  suffixes → `InvalidBucketName` 400.
- Object keys (PutObject, CopyObject's destination, multipart uploads): at most 1024 bytes
  of UTF-8 ("Naming Amazon S3 objects") → `KeyTooLongError` 400.

Off with `STATE.validation` (the `--lenient` opt-out). Rows: docs/parity/validation.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from moto.s3.exceptions import InvalidBucketName, S3ClientError

from emulator.state import STATE

MAX_KEY_BYTES = 1024
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class KeyTooLongError(S3ClientError):
    def __init__(self) -> None:
        super().__init__("KeyTooLongError", "Your key is too long")


def bucket_name_problem(name: str) -> str | None:
    """Why AWS refuses `name` for a new general purpose bucket, or None."""
    if not _BUCKET.match(name):
        return "3-63 lowercase letters, digits, dots or hyphens, starting and ending alphanumeric"
    if ".." in name:
        return "two adjacent periods"
    if _IPV4.match(name):
        return "formatted as an IP address"
    if name.startswith(RESERVED_PREFIXES):
        return "a reserved prefix"
    if name.endswith(RESERVED_SUFFIXES):
        return "a reserved suffix"
    return None


def _checked_create_bucket(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_bucket(self: Any, bucket_name: str, *args: Any, **kwargs: Any) -> Any:
        if STATE.validation and bucket_name_problem(bucket_name):
            raise InvalidBucketName()
        return original(self, bucket_name, *args, **kwargs)

    return create_bucket


def _checked_key(original: Callable[..., Any], position: int, name: str) -> Callable[..., Any]:
    """Refuse a key over 1,024 UTF-8 bytes: argument `name`, at `position` after `self`."""

    @functools.wraps(original)
    def with_key(self: Any, *args: Any, **kwargs: Any) -> Any:
        key = kwargs.get(name, args[position] if len(args) > position else None)
        if STATE.validation and isinstance(key, str) and len(key.encode()) > MAX_KEY_BYTES:
            raise KeyTooLongError()
        return original(self, *args, **kwargs)

    return with_key


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.s3.models import S3Backend

    S3Backend.create_bucket = _checked_create_bucket(S3Backend.create_bucket)  # type: ignore[method-assign]
    for method, position, name in (
        ("put_object", 1, "key_name"),
        ("create_multipart_upload", 1, "key_name"),
        ("copy_object", 2, "dest_key_name"),
    ):
        setattr(S3Backend, method, _checked_key(getattr(S3Backend, method), position, name))
    _installed = True
