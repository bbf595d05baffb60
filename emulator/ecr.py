"""ECR images with push dates, and Lambda image functions that resolve to them.

What AWS does and moto lacks (checked against moto 5.2):

- `imagePushedAt` is when the image was pushed. moto stamps it with the host's wall clock; here
  it is the emulated clock, so a week-long story ages images as it ages pins. `push_image()`
  (control `ecr/push`) pushes an image as if it had been pushed `age` ago — what a test or the
  demo needs to show an image function on a 120-day-old base image.
- A Lambda image function's `Code.ImageUri` names a private ECR image of the function's region
  (`<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>` or `@sha256:<digest>`); Lambda
  resolves it to a digest when the code is set, and `GetFunction` answers `Code.ResolvedImageUri`
  (`<repository uri>@sha256:<digest>`). An image that does not exist is refused
  (`InvalidParameterValueException`). moto, by default, hashes the URI text into a fake digest,
  accepts any URI, and builds ResolvedImageUri by cutting at the first `:` (wrong for a digest
  URI). Here the digest is the ECR image's, so `DescribeImages(imageIds=[{imageDigest}])` of the
  resolved digest answers the image's push date.
- Pushing a new image to the same tag later does not change a deployed function: it runs the
  digest resolved at deploy time (the image age that matters is that digest's).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ecr.exceptions import RepositoryNotFoundException
from moto.ecr.models import Image, ecr_backends
from rollforward.policy import parse_duration

from emulator.lambda_api import invalid_parameter_value
from emulator.routes import control
from emulator.state import STATE

# <registry>.dkr.ecr.<region>.amazonaws.com/<repository>(:<tag>|@sha256:<64 hex>)
IMAGE_URI = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))$"
)
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
_RESOLVED_DIGEST = "_rollforward_image_digest"
_pushes = 0
_lock = threading.Lock()
_installed = False


def _epoch(age: timedelta) -> int:
    """moto keeps imagePushedAt in whole epoch seconds."""
    return int((STATE.clock.now() - age).timestamp())


def push_image(
    repository: str,
    tag: str,
    *,
    account_id: str,
    region: str,
    age: timedelta = timedelta(0),
) -> dict[str, Any]:
    """Push a new image (a manifest of its own) to `repository:tag`, creating the repository if
    needed, as if it had been pushed `age` ago. Returns its digest, URI and push time."""
    global _pushes
    backend = ecr_backends[account_id][region]
    if repository not in backend.repositories:
        backend.create_repository(
            repository_name=repository,
            registry_id=None,
            encryption_config={"encryptionType": "AES256"},
            image_scan_config={"scanOnPush": False},
            image_tag_mutability="MUTABLE",
            tags=[],
        )
    with _lock:
        _pushes += 1
        nonce = _pushes
    layer = hashlib.sha256(f"{repository}:{tag}:{nonce}".encode()).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1470,
                "digest": f"sha256:{hashlib.sha256(layer.encode()).hexdigest()}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 3 * 1024 * 1024,
                    "digest": f"sha256:{layer}",
                }
            ],
        }
    )
    image = backend.put_image(repository, manifest, tag)
    image.image_pushed_at = _epoch(age)
    registry = backend.repositories[repository].registry_id
    return {
        "repository": repository,
        "tag": tag,
        "digest": image.get_image_digest(),
        "image_uri": f"{registry}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}",
        "pushed_at": image.image_pushed_at,
    }


@control("ecr/push")
def push_image_control(arguments: dict[str, Any]) -> dict[str, Any]:
    """`{"repository", "tag", "age": "120d", "region"?, "account"?}` → the pushed image."""
    return push_image(
        str(arguments["repository"]),
        str(arguments.get("tag") or "latest"),
        account_id=str(arguments.get("account") or DEFAULT_ACCOUNT_ID),
        region=str(arguments.get("region") or "us-east-1"),
        age=parse_duration(str(arguments.get("age") or "0s")),
    )


# --- Lambda image functions ---------------------------------------------------------------


def _source_image_missing(uri: str) -> Exception:
    return invalid_parameter_value(
        f"Source image {uri} does not exist. Provide a valid source image."
    )


def resolve_image_uri(uri: str, *, account_id: str, region: str) -> str:
    """The digest Lambda deploys for `uri`, or the error Lambda gives for it."""
    match = IMAGE_URI.match(uri)
    if match is None:
        raise invalid_parameter_value(
            f"Source image {uri} is not valid. Provide a valid source image: an Amazon ECR "
            "image URI with a tag or a digest."
        )
    if match["region"] != region:
        raise invalid_parameter_value(
            f"Source image {uri} is in another region: Lambda deploys images from Amazon ECR "
            f"repositories in {region} only."
        )
    registry = match["registry"]
    try:
        repository = ecr_backends[registry][region]._get_repository(match["repository"], registry)
    except RepositoryNotFoundException:
        raise _source_image_missing(uri) from None
    for image in repository.images:
        if (match["tag"] and match["tag"] in image.image_tags) or (
            match["digest"] and match["digest"] == image.get_image_digest()
        ):
            return str(image.get_image_digest())
    raise _source_image_missing(uri)


def resolved_digest(fn: LambdaFunction) -> str | None:
    """The digest an image function version runs (None for zip functions)."""
    return getattr(fn, _RESOLVED_DIGEST, None)


def _patched_set_function_code(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def set_function_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> None:
        uri = updated_spec.get("ImageUri") if isinstance(updated_spec, dict) else None
        if not isinstance(uri, str):
            original(self, updated_spec)
            return
        digest = resolve_image_uri(uri, account_id=self.account_id, region=self.region)
        original(self, updated_spec)  # moto's stub: its own hash of the URI text
        if updated_spec is not self.code and updated_spec.get("DryRun"):
            return
        self.code_sha_256 = digest.removeprefix("sha256:")
        setattr(self, _RESOLVED_DIGEST, digest)

    return set_function_code


def _patched_get_code(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def get_code(self: LambdaFunction) -> dict[str, Any]:
        response = dict(original(self))
        digest = resolved_digest(self)
        code = response.get("Code")
        if digest and isinstance(code, dict) and code.get("ImageUri"):
            match = IMAGE_URI.match(str(code["ImageUri"]))
            if match is not None:
                repository_uri = str(code["ImageUri"])[: match.start("repository")] + str(
                    match["repository"]
                )
                response["Code"] = {**code, "ResolvedImageUri": f"{repository_uri}@{digest}"}
        return response

    return get_code


def _patched_image_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def init(self: Image, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.image_pushed_at = _epoch(timedelta(0))  # the emulated clock, not the host's

    return init


def ecr_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    """IAM: an ECR repository operation is authorized against the repository's ARN."""
    from emulator.iam import _param

    name = _param(response, "repositoryName")
    if not name:
        return ["*"]
    registry = _param(response, "registryId") or account
    return [f"arn:aws:ecr:{region}:{registry}:repository/{name}"]


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from emulator import iam

        iam._RESOURCES.setdefault("ecr", ecr_resources)
        Image.__init__ = _patched_image_init(Image.__init__)  # type: ignore[method-assign]
        LambdaFunction._set_function_code = _patched_set_function_code(  # type: ignore[method-assign]
            LambdaFunction._set_function_code
        )
        LambdaFunction.get_code = _patched_get_code(LambdaFunction.get_code)  # type: ignore[method-assign]
        _installed = True
