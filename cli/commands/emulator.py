"""`rollforward emulator`: run the embedded AWS as a server, and drive a running one.

`rollforward emulator [--port] [--deploy]` serves in this process until Ctrl-C. Every other
sub-command (`clock`, `runtime`, `traffic`, `replay`, `throttle`, `deploy`) is a small HTTP
client of the running server's `/_rollforward/<name>` control routes, so it works against an
emulator started anywhere, the same way AWS clients reach it through `AWS_ENDPOINT_URL`.

The `emulator` package (moto and its patches) is imported only by the server sub-command:
controlling an emulator, or using AWS, never loads it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from rollforward.policy import parse_duration

from ..aws import EMULATOR_ENDPOINT
from ..render import format_fields, format_table
from .base import (
    EXIT_OK,
    ActionFailed,
    Context,
    UsageError,
    call_control,
)

DEFAULT_PORT = 4566
# Synthesizing the CDK app and deploying it, or a long traffic window, takes a while.
SLOW_CONTROL_TIMEOUT = 600.0
CLOUDTRAIL_SOURCE = "aws.lambda"
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
# The emulator's own account (root keys testing/testing): the hub of `--member-accounts`.
HUB_ACCOUNT = "123456789012"


def control_endpoint(context: Context) -> str:
    """`--endpoint-url`, else `AWS_ENDPOINT_URL`, else the default emulator address."""
    return (
        context.options.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or EMULATOR_ENDPOINT
    ).rstrip("/")


def seconds_text(text: str, what: str) -> str:
    """A duration in any rollforward spelling (`3d`, `1d12h`, `P3D`), as whole seconds (`259200s`)
    — the one form every emulator control accepts."""
    try:
        delta = parse_duration(text)
    except ValueError as error:
        raise UsageError(f"{what}: {error}") from None
    return f"{int(delta.total_seconds())}s"


# ------------------------------------------------------------------------ the server


def member_arguments(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """`--member-accounts A,B` and `--regions r1,r2`, checked (12-digit account ids, not the
    emulator's own account, which is the hub)."""
    accounts = [a.strip() for a in (args.member_accounts or "").split(",") if a.strip()]
    regions = [r.strip() for r in (args.regions or "").split(",") if r.strip()]
    for account in accounts:
        if not re.fullmatch(r"\d{12}", account):
            raise UsageError(f"--member-accounts: {account!r} is not a 12-digit account id")
        if account == HUB_ACCOUNT:
            raise UsageError(f"--member-accounts: {account} is the hub's own account")
    if regions and not accounts:
        raise UsageError("--regions names the member stacks' regions: give --member-accounts")
    for region in regions:
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
            raise UsageError(f"--regions: {region!r} is not a region name")
    return accounts, regions


def members_text(deployed: dict[str, Any]) -> str:
    instances = deployed.get("members") or []
    return f"; member stacks in {', '.join(instances)}" if instances else ""


def run_serve(args: argparse.Namespace, context: Context) -> int:
    members = member_arguments(args)
    if members[0] and not args.deploy:
        raise UsageError("--member-accounts deploys the hub and member stacks: add --deploy")
    from emulator.server import EmulatorServer  # lazily: only this command runs moto

    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = EmulatorServer(
        port=args.port,
        host=args.host,
        throttling=not args.no_throttle,
        validation=not args.lenient,
        iam_enforced=not args.lenient,
    )
    try:
        server.start()
    except OSError as error:
        raise ActionFailed(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error} "
            "(is another emulator running? pick another --port)"
        ) from None
    try:
        deployed: dict[str, Any] | None = None
        if args.deploy:
            context.out.note("deploying rollforward into the emulator (CDK synth, then deploy)…")
            from emulator.control import deploy_stacks

            try:
                deployed = deploy_stacks(context.options.region or "us-east-1", *members)
            except Exception as error:  # any synth/deploy failure: say so, stop the server
                raise ActionFailed(
                    f"deploying rollforward into the emulator failed: {error}"
                ) from error
        endpoint = server.endpoint_url
        throttle = "on (15 req/s shared control-plane bucket)" if server.throttling else "off"
        lines = [
            f"rollforward emulator listening on {endpoint}",
            format_fields(
                [
                    ("throttling", throttle),
                    ("validation", "on" if server.validation else "off (--lenient)"),
                    (
                        "iam",
                        "SigV4 verified, policies enforced; root keys testing/testing"
                        if server.iam_enforced
                        else "off (--lenient)",
                    ),
                    (
                        "rollforward",
                        f"deployed (stack {deployed['stack']}, {deployed['resources']} "
                        f"resources{members_text(deployed)})"
                        if deployed
                        else "not deployed (`rollforward emulator deploy`, or start with --deploy)",
                    ),
                ]
            ),
            "",
            "Use it from another shell:",
            f"  export AWS_ENDPOINT_URL={endpoint}",
            "  rollforward status",
            f"  aws --endpoint-url {endpoint} lambda list-functions",
            "  rollforward emulator clock advance 3d",
            "",
            "Ctrl-C stops it (all state is in memory and is lost).",
        ]
        context.out.result(
            {"endpoint": endpoint, "throttling": server.throttling, "deployed": deployed},
            "\n".join(lines),
        )
        server.serve_forever()
    except KeyboardInterrupt:
        context.out.note("stopping the emulator")
    finally:
        server.stop()
    return EXIT_OK


# ------------------------------------------------------------------------ controls


def run_clock_advance(args: argparse.Namespace, context: Context) -> int:
    by = seconds_text(args.duration, "clock advance")
    answer = call_control(control_endpoint(context), "clock/advance", {"by": by})
    context.out.result(answer, f"emulator clock advanced {args.duration}: now {answer.get('now')}")
    return EXIT_OK


def run_clock_now(args: argparse.Namespace, context: Context) -> int:
    answer = call_control(control_endpoint(context), "clock/now", {})
    context.out.result(answer, str(answer.get("now")))
    return EXIT_OK


def run_runtime_release(args: argparse.Namespace, context: Context) -> int:
    if not 0.0 <= args.error_rate <= 1.0:
        raise UsageError(f"--error-rate {args.error_rate} must be between 0 and 1 (0.05 is 5%)")
    arguments: dict[str, Any] = {
        "runtime": args.runtime,
        "error_rate": args.error_rate,
        "region": context.options.region,
    }
    if args.architecture:
        arguments["architectures"] = args.architecture
    answer = call_control(control_endpoint(context), "runtime/release", arguments)
    released = answer.get("released", [])
    rows = [
        [
            str(v.get("name")),
            str(v.get("architecture")),
            f"{v.get('error_rate', 0):.2%}",
            str(v.get("arn")),
        ]
        for v in released
    ]
    context.out.result(
        answer,
        f"released {args.runtime} in {context.options.region or 'us-east-1'}:\n"
        + format_table(("VERSION", "ARCH", "ERROR RATE", "ARN"), rows),
    )
    return EXIT_OK


def run_runtime_rollout(args: argparse.Namespace, context: Context) -> int:
    answer = call_control(
        control_endpoint(context),
        "runtime/rollout",
        {"runtime": args.runtime, "region": context.options.region},
    )
    updated = answer.get("updated", [])
    text = f"{len(updated)} Auto function version{'s' if len(updated) != 1 else ''} moved to the newest runtime version"
    context.out.result(
        answer, "\n".join([text + (":" if updated else "."), *(f"  {arn}" for arn in updated)])
    )
    return EXIT_OK


def split_function_qualifier(text: str) -> tuple[str, str | None]:
    """`orders`, `orders:live`, `arn:…:function:orders[:live]` → (function, qualifier)."""
    if text.startswith("arn:"):
        parts = text.split(":")
        if len(parts) not in (7, 8):
            raise UsageError(f"{text!r} is not a Lambda function ARN")
        return ":".join(parts[:7]), (parts[7] if len(parts) == 8 else None)
    name, sep, qualifier = text.partition(":")
    if not name or (sep and not qualifier) or ":" in qualifier:
        raise UsageError(f"{text!r} is not FUNCTION or FUNCTION:ALIAS")
    return name, qualifier or None


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def run_traffic(args: argparse.Namespace, context: Context) -> int:
    function, qualifier = split_function_qualifier(args.function)
    if not args.rps > 0:
        raise UsageError(f"--rps {args.rps} must be positive")
    duration = seconds_text(args.duration, "--duration")
    if duration == "0s":
        raise UsageError("--duration must be longer than zero")
    answer = call_control(
        control_endpoint(context),
        "traffic",
        {
            "function": function,
            "qualifier": qualifier,
            "rps": args.rps,
            "duration": duration,
            "region": context.options.region,
        },
        timeout=SLOW_CONTROL_TIMEOUT,
    )
    pairs = [(str(key), _field_text(value)) for key, value in sorted(answer.items())]
    context.out.result(answer, f"traffic to {args.function}:\n{format_fields(pairs)}")
    return EXIT_OK


def load_events(path: str) -> list[dict[str, Any]]:
    """EventBridge events to replay from a file (`-`: stdin).

    Accepts an EventBridge event (`source`, `detail-type`, `detail`), a bare CloudTrail record
    (wrapped as EventBridge wraps it) or a CloudTrail log file (`{"Records": [...]}`).
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{path} is not JSON: {error}") from None
    records = document.get("Records") if isinstance(document, dict) else None
    items = records if isinstance(records, list) else [document]
    events = []
    for item in items:
        if not isinstance(item, dict):
            raise UsageError(f"{path}: every event must be a JSON object")
        if "detail" in item:
            events.append(item)
        elif "eventName" in item:
            events.append(
                {"source": CLOUDTRAIL_SOURCE, "detail-type": CLOUDTRAIL_DETAIL_TYPE, "detail": item}
            )
        else:
            raise UsageError(
                f"{path}: neither an EventBridge event (with 'detail') nor a CloudTrail record "
                "(with 'eventName')"
            )
    if not events:
        raise UsageError(f"{path} holds no events")
    return events


def run_replay(args: argparse.Namespace, context: Context) -> int:
    events = load_events(args.event_file)
    endpoint = control_endpoint(context)
    delivered = [call_control(endpoint, "cloudtrail/put", {"event": event}) for event in events]
    targets = sum(int(answer.get("targets", 0)) for answer in delivered)
    context.out.result(
        {"events": len(events), "targets": targets},
        f"replayed {len(events)} event{'s' if len(events) != 1 else ''}; "
        f"delivered to {targets} rule target{'s' if targets != 1 else ''}",
    )
    return EXIT_OK


def run_image_push(args: argparse.Namespace, context: Context) -> int:
    arguments = {
        "repository": args.repository,
        "tag": args.tag,
        "age": seconds_text(args.age, "--age"),
        "region": context.options.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    }
    answer = call_control(control_endpoint(context), "ecr/push", arguments)
    context.out.result(
        answer, f"pushed {answer.get('image_uri')} ({answer.get('digest')}), {args.age} ago"
    )
    return EXIT_OK


def run_throttle(args: argparse.Namespace, context: Context) -> int:
    arguments: dict[str, Any] = {"enabled": args.state == "on"}
    if args.rate is not None:
        if not args.rate > 0:
            raise UsageError(f"--rate {args.rate} must be positive (requests per second)")
        arguments["rate"] = args.rate
    answer = call_control(control_endpoint(context), "throttle", arguments)
    state = "on" if answer.get("enabled") else "off"
    context.out.result(
        answer, f"throttling {state}; shared control-plane bucket {answer.get('rate')} req/s"
    )
    return EXIT_OK


def run_deploy(args: argparse.Namespace, context: Context) -> int:
    accounts, regions = member_arguments(args)
    context.out.note("deploying rollforward into the emulator (CDK synth, then deploy)…")
    answer = call_control(
        control_endpoint(context),
        "deploy",
        {
            "region": context.options.region or "us-east-1",
            "member_accounts": accounts,
            "regions": regions,
        },
        timeout=SLOW_CONTROL_TIMEOUT,
    )
    context.out.result(
        answer,
        f"deployed stack {answer.get('stack')} ({answer.get('resources')} resources"
        f"{members_text(answer)})",
    )
    return EXIT_OK


# ------------------------------------------------------------------------ parsers


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    emulator = subparsers.add_parser(
        "emulator",
        parents=parents,
        help="run the embedded AWS, or drive a running one (clock, runtimes, traffic, ...)",
        description="Without a sub-command: serve the embedded AWS on 127.0.0.1 until Ctrl-C. "
        "With one: drive the emulator at --endpoint-url / AWS_ENDPOINT_URL "
        f"(default {EMULATOR_ENDPOINT}).",
    )
    emulator.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve on")
    emulator.add_argument("--host", default="127.0.0.1", help="address to serve on")
    emulator.add_argument(
        "--deploy", action="store_true", help="deploy the rollforward stack once serving"
    )
    add_member_arguments(emulator)
    emulator.add_argument(
        "--no-throttle",
        action="store_true",
        help="do not enforce Lambda's 15 req/s control-plane limit (on by default, as in AWS)",
    )
    emulator.add_argument(
        "--lenient",
        action="store_true",
        help="accept what AWS refuses, as moto does (request validation, SigV4 verification and "
        "IAM enforcement are on by default)",
    )
    emulator.add_argument(
        "--log-requests", action="store_true", help="log every HTTP request the server answers"
    )
    emulator.set_defaults(handler=run_serve)
    controls = emulator.add_subparsers(dest="control", metavar="CONTROL")

    clock = controls.add_parser(
        "clock", parents=parents, help="the virtual clock", description="The virtual clock."
    )
    clock_commands = clock.add_subparsers(dest="clock_command", metavar="ACTION", required=True)
    advance = clock_commands.add_parser(
        "advance",
        parents=parents,
        help="move the clock forward (Wait states and expiries fire)",
        description="Move the virtual clock forward; waiting workflows wake up.",
    )
    advance.add_argument("duration", metavar="DURATION", help="3d, 12h, 1d12h, 90m, P3D")
    advance.set_defaults(handler=run_clock_advance)
    now = clock_commands.add_parser(
        "now", parents=parents, help="print the virtual time", description="Print the virtual time."
    )
    now.set_defaults(handler=run_clock_now)

    runtime = controls.add_parser(
        "runtime",
        parents=parents,
        help="runtime versions AWS releases",
        description="Runtime versions: release a new one, roll it out to Auto functions.",
    )
    runtime_commands = runtime.add_subparsers(
        dest="runtime_command", metavar="ACTION", required=True
    )
    release = runtime_commands.add_parser(
        "release",
        parents=parents,
        help="AWS releases the next version of a runtime",
        description="AWS releases the next version of RUNTIME in --region (one per architecture).",
    )
    release.add_argument("runtime", metavar="RUNTIME", help="e.g. python3.12, nodejs22.x")
    release.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        help="fraction of invocations the new version fails (0.05 = 5%%)",
    )
    release.add_argument(
        "--architecture",
        action="append",
        choices=("x86_64", "arm64"),
        help="only this architecture (repeatable; default both)",
    )
    release.set_defaults(handler=run_runtime_release)
    rollout = runtime_commands.add_parser(
        "rollout",
        parents=parents,
        help="phase 2: move every Auto function version to the newest runtime version",
        description="Phase 2 of an AWS runtime rollout: every function version in Auto mode "
        "moves to the newest runtime version (Manual and FunctionUpdate versions do not).",
    )
    rollout.add_argument("--runtime", help="only this runtime (default: all)")
    rollout.set_defaults(handler=run_runtime_rollout)

    traffic = controls.add_parser(
        "traffic",
        parents=parents,
        help="invoke a function at a rate over a window of virtual time",
        description="Invoke FUNCTION[:ALIAS] --rps times per second over --duration of virtual "
        "time (alias weights honoured, metrics and INIT_START lines published).",
    )
    traffic.add_argument("function", metavar="FUNCTION[:ALIAS]")
    traffic.add_argument("--rps", type=float, required=True, help="invocations per second")
    traffic.add_argument("--duration", required=True, help="window length, e.g. 10m")
    traffic.set_defaults(handler=run_traffic)

    replay = controls.add_parser(
        "replay",
        parents=parents,
        help="deliver a CloudTrail event to EventBridge rules",
        description="Deliver EVENT.json (an EventBridge event, a CloudTrail record or a "
        'CloudTrail log file {"Records": [...]}; - for stdin) to the default event bus.',
    )
    replay.add_argument("event_file", metavar="EVENT.json")
    replay.set_defaults(handler=run_replay)

    throttle = controls.add_parser(
        "throttle",
        parents=parents,
        help="turn the control-plane rate limit on or off",
        description="Turn Lambda's shared control-plane rate limit on or off.",
    )
    throttle.add_argument("state", choices=("on", "off"))
    throttle.add_argument("--rate", type=float, help="requests per second (AWS: 15)")
    throttle.set_defaults(handler=run_throttle)

    image = controls.add_parser(
        "image",
        parents=parents,
        help="ECR images with a push date (image functions' age)",
        description="Push an image to the emulator's ECR as if it had been pushed some time ago.",
    )
    image_commands = image.add_subparsers(dest="image_command", metavar="COMMAND", required=True)
    push = image_commands.add_parser(
        "push", parents=parents, help="push REPOSITORY:TAG, backdated by --age"
    )
    push.add_argument("repository", help="ECR repository (created if missing)")
    push.add_argument("--tag", default="latest", help="image tag (default latest)")
    push.add_argument("--age", default="0s", help="pushed this long ago, e.g. 120d (default now)")
    push.set_defaults(handler=run_image_push)

    deploy = controls.add_parser(
        "deploy",
        parents=parents,
        help="deploy the rollforward stack into the running emulator",
        description="Synthesize the CDK app and deploy it into the running emulator.",
    )
    add_member_arguments(deploy)
    deploy.set_defaults(handler=run_deploy)


def add_member_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--member-accounts",
        metavar="A,B",
        help="deploy the Organization-wide hub instead, and the member stack (its StackSet's) in "
        f"each of these accounts: an emulated Organization of the hub ({HUB_ACCOUNT}) and them",
    )
    parser.add_argument(
        "--regions",
        metavar="R1,R2",
        help="the member stacks' regions (default: the hub's, --region)",
    )
