"""Synthesize the rollforward CDK app and deploy it into the embedded AWS.

Synthesis needs Node (jsii); it runs once per process and context, then every deployment
reuses the template.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3

from emulator.deploy import Deployment, deploy_template
from emulator.state import STATE

ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = "Rollforward"


def _prefer_project_node() -> None:
    """jsii runs `node` from PATH: put the pinned Node from package.json first."""
    node_bin = ROOT / "node_modules" / ".bin"
    if node_bin.is_dir() and str(node_bin) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    # CDK's own use of deprecated members (EventBus.add_to_resource_policy) is not ours to fix.
    os.environ.setdefault("JSII_DEPRECATED", "quiet")


# The context-free synthesis (the infra tests', the CLI tests', `emulator --deploy`'s) also
# carries a second stack of another name, in the same jsii run: the deploy-collision test
# compares the two without a second synthesis. Deployments read only STACK_NAME's template.
SECOND_STACK_NAME = "RollforwardSecond"
# ... and an Organization-wide hub (infra.app.EXAMPLE_ORGANIZATION) with the member stack its
# StackSet deploys: cdk-nag and cfn-lint cover both, `--member-accounts` deploys them.
HUB_STACK_NAME = "RollforwardHub"
# The Organization's management account in a hub deployment: the hub is a member of it,
# registered as the StackSets delegated administrator (the install the hub is built for).
MANAGEMENT_ACCOUNT = "999900001111"
MEMBER_STACK_NAME = "RollforwardMember"


# A directory shared by the processes of one test session (pytest-xdist workers): each synthesis
# is kept there, so the processes share one jsii run per context. Set by tests/conftest.py.
SYNTH_CACHE_ENV = "ROLLFORWARD_SYNTH_CACHE"
# What a synthesis depends on: the CDK app, the state machines, the Lambda asset, the pins.
_SYNTH_SOURCES = (
    "infra",
    "workflows",
    "lambdas",
    "cdk.json",
    "pyproject.toml",
    "package-lock.json",
)


def synth_key(context_json: str) -> str:
    """A synthesis's identity: its context and the contents of every source it reads."""
    digest = hashlib.sha256(context_json.encode())
    for source in _SYNTH_SOURCES:
        top = ROOT / source
        files = sorted(top.rglob("*")) if top.is_dir() else [top]
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_assembly(context_json: str, outdir: str) -> None:
    _prefer_project_node()
    from infra.app import build_app

    context = json.loads(context_json)
    names = (STACK_NAME,) if context else (STACK_NAME, SECOND_STACK_NAME)
    hubs = () if context else (HUB_STACK_NAME,)
    build_app(outdir=outdir, context=context, stack_names=names, hub_stack_names=hubs).synth()


@lru_cache(maxsize=4)
def _synth_assembly(context_json: str) -> Path:
    shared = os.environ.get(SYNTH_CACHE_ENV)
    if not shared:
        outdir = tempfile.mkdtemp(prefix="rollforward-cdk-")
        _build_assembly(context_json, outdir)
        return Path(outdir)
    cache = Path(shared)
    cache.mkdir(parents=True, exist_ok=True)
    assembly = cache / synth_key(context_json)
    # One process synthesizes; the others wait on the lock and read its assembly.
    with _locked(cache / f"{assembly.name}.lock"):
        if not assembly.is_dir():
            partial = Path(tempfile.mkdtemp(prefix=f"{assembly.name}-", dir=cache))
            try:
                _build_assembly(context_json, str(partial))
                partial.rename(assembly)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
    return assembly


@lru_cache(maxsize=8)
def _synth(context_json: str, stack_name: str = STACK_NAME) -> str:
    return (_synth_assembly(context_json) / f"{stack_name}.template.json").read_text()


def synthesize_assembly(context: dict[str, Any] | None = None) -> Path:
    """The cloud assembly directory of the same synthesis `synthesize` reads: the template,
    `validation-report.json` (cdk-nag) and the construct metadata. Treat it as read-only."""
    return _synth_assembly(json.dumps(context or {}, sort_keys=True))


def synthesize(
    context: dict[str, Any] | None = None, stack_name: str = STACK_NAME
) -> dict[str, Any]:
    """The CloudFormation template of the rollforward stack, as `cdk synth` makes it
    (`SECOND_STACK_NAME` exists in the context-free synthesis only)."""
    return json.loads(_synth(json.dumps(context or {}, sort_keys=True), stack_name))  # type: ignore[no-any-return]


def deploy_rollforward(
    region: str = "us-east-1", context: dict[str, Any] | None = None
) -> Deployment:
    ensure_management_trail(region)
    return deploy_template(synthesize(context), STACK_NAME, region)


def deploy_hub(
    region: str = "us-east-1",
    *,
    member_accounts: list[str],
    member_regions: list[str] | None = None,
) -> Deployment:
    """An Organization-wide install: an Organization (management account
    `MANAGEMENT_ACCOUNT`) of this account — the hub, its StackSets delegated administrator — and
    `member_accounts`, each with its trail, then the hub stack (`HUB_STACK_NAME`, from the same
    synthesis as every other deployment), whose StackSet deploys the member stack to every
    member account in every one of `member_regions` (default: the hub's region) — through the
    emulator's StackSets (`emulator.deploy`), as the StackSet's execution role in each."""
    from emulator.accounts import create_organization, organization_root, stack_set_credentials

    regions = list(member_regions or [region])
    organization_id, _ = create_organization(member_accounts, management_account=MANAGEMENT_ACCOUNT)
    ensure_management_trail(region)
    for account in member_accounts:
        credentials = stack_set_credentials(account)
        ensure_management_trail(regions[0], **credentials)
    parameters = {
        "OrganizationId": organization_id,
        "MemberOrganizationalUnitIds": organization_root(MANAGEMENT_ACCOUNT),
        "MemberRegions": ",".join(regions),
    }
    return deploy_template(
        synthesize(stack_name=HUB_STACK_NAME), HUB_STACK_NAME, region, parameters
    )


TRAIL_NAME = "management-events"


def ensure_management_trail(region: str, **credentials: str) -> str:
    """The account's CloudTrail trail, as rollforward's prerequisite has a production account
    keep one (EventBridge gets "AWS API Call via CloudTrail" events only from a logging trail):
    multi-region, management events, logging, into its own bucket. Not part of the stack: the
    account's, like on AWS. Idempotent; returns the trail's ARN."""
    endpoint: dict[str, Any] = {"endpoint_url": STATE.endpoint_url} if STATE.endpoint_url else {}
    endpoint.update(credentials)  # another account's (a member's), else the default principal
    cloudtrail = boto3.client("cloudtrail", region_name=region, **endpoint)
    existing = cloudtrail.describe_trails(trailNameList=[TRAIL_NAME]).get("trailList", [])
    if existing:
        return str(existing[0]["TrailARN"])
    account = boto3.client("sts", region_name=region, **endpoint).get_caller_identity()["Account"]
    bucket = f"aws-cloudtrail-logs-{account}-{region}"
    s3 = boto3.client("s3", region_name=region, **endpoint)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    arn = cloudtrail.create_trail(
        Name=TRAIL_NAME,
        S3BucketName=bucket,
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
    )["TrailARN"]
    cloudtrail.start_logging(Name=TRAIL_NAME)
    return str(arn)
