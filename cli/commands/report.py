"""`rollforward report`: the posture of every function in the account and region.

Each function version (`$LATEST` and every version an alias routes to) in its row of the
shared-responsibility table — Auto, Function update, Manual, Container image — with whether the
customer's responsibility there is met and, when not, since when. Table for people,
`--output json` for scripts and the console, `--csv FILE` (or `-`) for a spreadsheet.

It reads AWS directly with the caller's credentials (Lambda, ECR, CloudFormation, and the
ledger when rollforward is deployed) and changes nothing — except `--notify-owners`, which
publishes the owner notice of each image function past the policy's age to the owner topic.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError
from rollforward.adapters.posture import ledger_pins, read_fleet
from rollforward.policy import parse_duration
from rollforward.posture import PosturePolicy, Status, assess_fleet, image_notice
from rollforward.posture.report import ROW_TITLES, csv_text, report_document

from ..aws import NotDeployed
from ..render import format_age, format_table
from .base import EXIT_OK, Context, UsageError

# The report reads each function from the shared 15 req/s bucket: let botocore pace retries.
READ_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10})


def _age(text: str, what: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as error:
        raise UsageError(f"{what}: {error}") from None
    if value <= timedelta(0):
        raise UsageError(f"{what} must be positive")
    return value


def build_report(context: Context, policy: PosturePolicy) -> tuple[dict[str, Any], list[Any]]:
    """The report document and its assessments (the console page calls this too)."""
    target = context.target
    lam = target.session.client("lambda", endpoint_url=target.endpoint_url, config=READ_CONFIG)
    ecr = target.client("ecr")
    cloudformation = target.client("cloudformation")
    pins: dict[Any, Any] = {}
    try:
        pins = ledger_pins(context.ledger.list_pins(open_only=True))
    except (NotDeployed, ClientError, KeyError) as error:
        context.out.note(f"note: no ledger read ({error}); Manual pins show as untracked")
    fleet = read_fleet(lam, ecr, cloudformation, pins)
    now = context.now()
    assessments = assess_fleet(
        fleet.versions, policy=policy, now=now, template_pins=fleet.template_pins
    )
    try:
        account = str(target.client("sts").get_caller_identity()["Account"])
    except ClientError:
        account = ""
    document = report_document(
        assessments,
        now=now,
        policy=policy,
        account=account,
        region=str(target.session.region_name or ""),
        unreadable=fleet.unreadable,
    )
    return document, assessments


def _owner_topic(context: Context) -> str:
    """The owner topic the deployed functions publish to (their OWNER_TOPIC_ARN)."""
    function = context.discovery.get("tracking_function", "")
    configuration = context.target.client("lambda").get_function_configuration(
        FunctionName=function
    )
    return str(configuration.get("Environment", {}).get("Variables", {}).get("OWNER_TOPIC_ARN", ""))


def notify_owners(context: Context, assessments: list[Any]) -> int:
    topic = _owner_topic(context)
    if not topic:
        raise UsageError("this deployment has no owner topic to notify (OWNER_TOPIC_ARN unset)")
    sns = context.target.client("sns")
    now = context.now()
    sent = 0
    for assessment in assessments:
        notice = image_notice(assessment, now)
        if notice is not None:
            sns.publish(**notice.sns_publish_kwargs(topic))
            sent += 1
    return sent


def render_table(document: dict[str, Any], unmet_only: bool = False) -> str:
    policy = document["policy"]
    head = (
        f"Posture of {document['account'] or 'this account'} {document['region']} at "
        f"{document['generated_at']} (policy: Function update {policy['function_update_max_age_days']:g}d, "
        f"image {policy['image_max_age_days']:g}d)"
    )
    summary = format_table(
        ["ROW", "VERSIONS", "UNMET", "DUE", "OLDEST UNMET", "RESPONSIBILITY"],
        [
            [
                item["title"],
                str(item["functions"]),
                str(item["unmet"]),
                str(item["due"]),
                format_age(timedelta(days=item["oldest_unmet_days"]))
                if item["oldest_unmet_days"] is not None
                else "-",
                item["responsibility"],
            ]
            for item in document["summary"]
        ],
    )
    listed = [
        f
        for f in document["functions"]
        if not unmet_only or f["status"] in (Status.UNMET.value, Status.DUE.value)
    ]
    titles = {row.value: title for row, title in ROW_TITLES.items()}
    functions = format_table(
        ["FUNCTION", "QUALIFIER", "ROW", "STATUS", "UNMET FOR", "OWNER", "WHY"],
        [
            [
                f["function"],
                f["qualifier"],
                titles[f["row"]],
                f["status"],
                format_age(timedelta(days=f["unmet_days"])) if f["unmet_days"] is not None else "-",
                f["owner"] or "-",
                f["reason"] + (" [template pins]" if f["template_pin"] else ""),
            ]
            for f in listed
        ],
    )
    parts = [head, "", summary, "", functions]
    pins = [f for f in document["functions"] if f["template_pin"]]
    if pins:
        parts += ["", "Templates that re-pin:"] + [
            f"  {f['function']}: {f['template_pin']}" for f in pins
        ]
    if document["unknown"]:
        parts += ["", f"{document['unknown']} version(s) could not be assessed (status unknown)."]
    if document["unreadable"]:
        parts += ["", "Unreadable: " + "; ".join(document["unreadable"])]
    return "\n".join(parts)


def run_report(args: argparse.Namespace, context: Context) -> int:
    # Unset thresholds are the policy in force (`posture` in the deployed policy document).
    settings = context.policy.posture
    policy = PosturePolicy(
        function_update_max_age=_age(args.function_update_max_age, "--function-update-max-age")
        if args.function_update_max_age
        else settings.function_update_max_age,
        image_max_age=_age(args.image_max_age, "--image-max-age")
        if args.image_max_age
        else settings.image_max_age,
    )
    document, assessments = build_report(context, policy)
    if args.csv:
        text = csv_text(assessments, context.now())
        if args.csv == "-":
            context.out.stdout.write(text)
            return EXIT_OK
        Path(args.csv).write_text(text, encoding="utf-8")
        context.out.note(f"wrote {len(assessments)} rows to {args.csv}")
    if args.notify_owners:
        sent = notify_owners(context, assessments)
        document["owner_notices_sent"] = sent
        context.out.note(f"sent {sent} owner notice(s) about old container images")
    context.out.result(document, render_table(document, args.unmet_only))
    return EXIT_OK


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser(
        "report",
        parents=parents,
        help="the posture report: every function's row of the shared-responsibility table",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    report.add_argument(
        "--function-update-max-age",
        default=None,
        help="a FunctionUpdate function behind the newest runtime version and not updated for "
        "longer than this is unmet (default: the policy's posture.function_update_max_age, 30d)",
    )
    report.add_argument(
        "--image-max-age",
        default=None,
        help="an image function whose image is older than this is unmet (default: the "
        "policy's posture.image_max_age, 90d)",
    )
    report.add_argument(
        "--csv", metavar="FILE", help="also write the rows as CSV (`-`: stdout only)"
    )
    report.add_argument(
        "--unmet-only", action="store_true", help="list only unmet and due versions (table)"
    )
    report.add_argument(
        "--notify-owners",
        action="store_true",
        help="publish the owner notice of each image function past --image-max-age",
    )
    report.set_defaults(handler=run_report)
