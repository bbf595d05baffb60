"""The emulator's control operations: what "AWS" does that no AWS API asks it to.

Each is a plain function (tests call them directly) and also registered under
`/_rollforward/<name>` for `rollforward emulator ...` against a running server.
"""

from __future__ import annotations

from typing import Any

from rollforward.policy import parse_duration

from emulator.routes import control
from emulator.state import STATE


def _region(arguments: dict[str, Any]) -> str:
    return str(arguments.get("region") or "us-east-1")


@control("clock/advance")
def advance_clock(arguments: dict[str, Any]) -> dict[str, Any]:
    now = STATE.clock.advance(parse_duration(arguments["by"]))
    return {"now": now.isoformat()}


@control("clock/now")
def clock_now(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"now": STATE.clock.now().isoformat()}


@control("runtime/release")
def release_runtime(arguments: dict[str, Any]) -> dict[str, Any]:
    released = STATE.catalog.release(
        str(arguments["runtime"]),
        _region(arguments),
        tuple(arguments.get("architectures") or ("x86_64", "arm64")),
        error_rate=float(arguments.get("error_rate", 0.0)),
    )
    # {"breaks": {"checkout": 0.08}}: this release breaks only these functions.
    for function, rate in (arguments.get("breaks") or {}).items():
        for version in released:
            STATE.function_error_rates[(str(function), version.arn)] = float(rate)
    return {
        "released": [
            {
                "name": v.name,
                "arn": v.arn,
                "architecture": v.architecture,
                "error_rate": v.error_rate,
            }
            for v in released
        ]
    }


@control("runtime/rollout")
def rollout_runtime(arguments: dict[str, Any]) -> dict[str, Any]:
    from emulator.lambda_api import rollout

    updated = rollout(region=arguments.get("region"), runtime=arguments.get("runtime"))
    return {"updated": updated}


@control("traffic")
def traffic(arguments: dict[str, Any]) -> dict[str, Any]:
    from emulator.traffic import generate_traffic

    function = str(arguments["function"])
    region, account = arguments.get("region"), None
    if function.startswith("arn:") and function.count(":") >= 6:
        # A function ARN says where it lives: a member account's function gets its traffic there.
        _, _, _, region, account, _ = function.split(":", 5)
    summary = generate_traffic(
        function,
        arguments.get("qualifier"),
        float(arguments.get("rps", 1)),
        parse_duration(arguments.get("duration", "1m")),
        region=region,
        account_id=account,
    )
    return summary.to_dict()


@control("cloudtrail/put")
def put_cloudtrail(arguments: dict[str, Any]) -> dict[str, Any]:
    from emulator.cloudtrail import put_cloudtrail_event

    return {"targets": put_cloudtrail_event(arguments["event"])}


@control("throttle")
def throttle(arguments: dict[str, Any]) -> dict[str, Any]:
    if "enabled" in arguments:
        STATE.throttle.enabled = bool(arguments["enabled"])
    if "rate" in arguments:
        STATE.throttle.shared_rate = float(arguments["rate"])
    return {"enabled": STATE.throttle.enabled, "rate": STATE.throttle.shared_rate}


@control("deploy")
def deploy(arguments: dict[str, Any]) -> dict[str, Any]:
    return deploy_stacks(
        _region(arguments),
        list(arguments.get("member_accounts") or []),
        list(arguments.get("regions") or []),
    )


def deploy_stacks(region: str, member_accounts: list[str], regions: list[str]) -> dict[str, Any]:
    """The single-account stack, or (with `member_accounts`) the Organization-wide hub and the
    member stacks its StackSet deploys to every member account in every one of `regions`
    (default: the hub's region). What `rollforward emulator --deploy` and the deploy control
    answer: the stack, its resource count, and each member stack instance ("account/region")."""
    from emulator.stack import deploy_hub, deploy_rollforward

    if not member_accounts:
        deployment = deploy_rollforward(region=region)
        return {"stack": deployment.stack_name, "resources": len(deployment.physical)}
    deployment = deploy_hub(region, member_accounts=member_accounts, member_regions=regions)
    return {
        "stack": deployment.stack_name,
        "resources": len(deployment.physical),
        "members": sorted(deployment.stack_instances),
    }


def install() -> None:
    """Importing this module registers the controls; nothing to patch."""
