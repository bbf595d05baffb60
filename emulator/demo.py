"""`make demo` / `rollforward demo`: the whole story on the embedded AWS, no account needed.

A fleet of functions; AWS releases a runtime version that breaks one of them; a human pins it
to Manual (the documented mitigation) and forgets; rollforward detects the pin, climbs the
escalation ladder on a compressed clock, gets an on-call approval, tries a canary that fails
and rolls back, and — once AWS ships a fixed runtime version — rolls the function forward to
Auto behind a canary that passes. Everything is driven through AWS APIs.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
from rollforward.ledger import Pin, PinKind, Stage
from rollforward.model import PinKey
from rollforward.posture import Row, Status

from emulator import posture_fleet
from emulator.accounts import stack_set_credentials
from emulator.inprocess import EmbeddedAws
from emulator.scenario import Lifecycle, Principal, wait_for, wait_until_updated
from emulator.stack import HUB_STACK_NAME, deploy_hub, deploy_rollforward, synthesize
from emulator.traffic import generate_traffic

VICTIM = "checkout"
RUNTIME = "python3.12"
REGION = "us-east-1"
ACCOUNT = "123456789012"
MEMBER, MEMBER_FUNCTION = "222233334444", "orders"  # the Organization chapter's
# A demo policy: the default ladder and judge, shorter bakes so the story fits in a minute.
DEMO_POLICY = {
    "approval": {"allowed_approvers": ["arn:aws:iam::*:user/oncall-*"], "approval_timeout": "1d"},
    "canary": {"bake": "5m", "post_promotion_bake": "5m"},
}
TRAFFIC_RPS = 200.0
BAKE = timedelta(minutes=5)


class Story:
    def __init__(self, quiet: bool = False) -> None:
        self.started = time.monotonic()
        self.quiet = quiet
        self.scene = 0

    def chapter(self, title: str) -> None:
        self.scene += 1
        self.say(f"\n== {self.scene}. {title}")

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def step(self, lifecycle: Lifecycle, text: str) -> None:
        now = lifecycle.aws.state.clock.now()
        self.say(f"  [{now:%b %d %H:%M} UTC | +{time.monotonic() - self.started:4.1f}s] {text}")


def _fleet(lifecycle: Lifecycle, story: Story, size: int) -> None:
    runtimes = [RUNTIME, "python3.13", "nodejs22.x"]
    for index in range(size):
        name = VICTIM if index == 0 else f"svc-{index:02d}"
        lifecycle.lam.create_function(
            FunctionName=name,
            Runtime=RUNTIME if name == VICTIM else runtimes[index % len(runtimes)],
            Handler="app.handler",
            Role=lifecycle.role,
            Code={"ZipFile": _zip()},
            Tags={
                "rollforward:owner": f"team{index % 5}@example.com",
                "rollforward:team": f"team{index % 5}",
            },
        )
        if index % 3 == 0:  # a third serve through an alias
            version = lifecycle.lam.publish_version(FunctionName=name)["Version"]
            lifecycle.lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    story.step(
        lifecycle,
        f"{size} functions created ({(size + 2) // 3} behind alias 'live'), runtime updates on Auto",
    )
    posture_fleet.create_function_update_function(lifecycle.lam, lifecycle.role, _zip())
    story.step(
        lifecycle,
        f"'{posture_fleet.FUNCTION_UPDATE}' deployed in FunctionUpdate mode (runtime updates only on deploy)",
    )


def _zip() -> bytes:
    from emulator.scenario import code_zip

    return code_zip()


def _victim(lifecycle: Lifecycle) -> Pin:
    """The victim's ledger item (detected by then: the story waits for detection first)."""
    pin = lifecycle.pin_record(VICTIM)
    if pin is None:
        raise AssertionError(f"{VICTIM} has no ledger item")
    return pin


def _error_rate(summary: Any) -> str:
    return f"{summary.errors}/{summary.invocations} errors ({summary.errors / max(1, summary.invocations):.1%})"


def _bake(lifecycle: Lifecycle, until: Callable[[], bool], story: Story, limit: int = 12) -> None:
    for _ in range(limit):
        lifecycle.settle()
        if until():
            return
        summary = generate_traffic(VICTIM, "live", TRAFFIC_RPS, BAKE)
        weights = lifecycle.lam.get_alias(FunctionName=VICTIM, Name="live").get("RoutingConfig", {})
        split = ", ".join(
            f"v{v}: {w:.0%}" for v, w in (weights.get("AdditionalVersionWeights") or {}).items()
        )
        story.step(
            lifecycle,
            f"bake: {summary.invocations} invocations through 'live'{f' (candidate {split})' if split else ''}, {_error_rate(summary)}",
        )
    lifecycle.settle()


def _verdicts(evidence: dict[str, Any]) -> list[str]:
    lines = []
    for verdict in evidence.get("verdicts", []):
        lines.append(
            f"step {verdict.get('step')}: {verdict.get('outcome')} — candidate "
            f"{verdict.get('candidate_errors')}/{verdict.get('candidate_invocations')} errors vs baseline "
            f"{verdict.get('baseline_errors')}/{verdict.get('baseline_invocations')}"
        )
    return lines


class _StoryOutput(io.TextIOBase):
    """stdout for the demo: rollforward's handlers run in this process and log JSON lines
    (Powertools) the way Lambda would send them to CloudWatch Logs; here they would drown the
    story, so lines that are JSON log records are dropped and everything else passes."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            if not line.startswith('{"'):
                self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()


def run(size: int = 50, quiet: bool = False, report_json: Path | None = None) -> int:
    real_stdout = sys.stdout
    sys.stdout = _StoryOutput(real_stdout)
    try:
        return _run(size, quiet, report_json)
    finally:
        sys.stdout = real_stdout


def _run(size: int, quiet: bool, report_json: Path | None) -> int:
    story = Story(quiet)
    story.chapter(
        "Deploying rollforward into the embedded AWS (synthesized from infra/, cdk-nag checked)"
    )
    synthesize({"policy": DEMO_POLICY})
    with EmbeddedAws() as aws:
        aws.state.handler_log_level = "ERROR"  # the story, not the handlers' operational logs
        logging.getLogger("rollforward").setLevel(logging.ERROR)
        lifecycle = Lifecycle(aws, deploy_rollforward(context={"policy": DEMO_POLICY}))
        story.step(
            lifecycle,
            f"stack deployed: state machine {lifecycle.state_machine_arn.rsplit(':', 1)[1]}",
        )
        _fleet(lifecycle, story, size)

        story.chapter(f"AWS releases a new {RUNTIME} runtime version; it breaks '{VICTIM}'")
        broken = aws.state.catalog.release(RUNTIME, REGION)
        for version in broken:
            aws.state.function_error_rates[(VICTIM, version.arn)] = 0.08
        old = lifecycle.runtime_arn(VICTIM)
        from emulator.lambda_api import rollout

        updated = rollout(region=REGION, runtime=RUNTIME)
        story.step(
            lifecycle,
            f"phase-2 rollout moved {len(updated)} Auto function versions to {broken[0].name}",
        )
        summary = generate_traffic(VICTIM, "live", 50, timedelta(minutes=2))
        story.step(lifecycle, f"'{VICTIM}' after the update: {_error_rate(summary)}")

        story.chapter("On-call pins it to Manual on the previous runtime version — and moves on")
        dana = Principal("oncall-dana")
        dana.client("lambda").put_runtime_management_config(
            FunctionName=VICTIM, UpdateRuntimeOn="Manual", RuntimeVersionArn=old
        )
        # The deploy pipeline ships the pinned build: the new version inherits the pin.
        dana.client("lambda").update_function_configuration(
            FunctionName=VICTIM, Description="redeploy, runtime pinned"
        )
        wait_until_updated(dana.client("lambda"), VICTIM)
        pinned_version = dana.client("lambda").publish_version(FunctionName=VICTIM)["Version"]
        dana.client("lambda").update_alias(
            FunctionName=VICTIM, Name="live", FunctionVersion=pinned_version
        )
        summary = generate_traffic(VICTIM, "live", 50, timedelta(minutes=2))
        story.step(
            lifecycle,
            f"pinned by {dana.arn}; alias 'live' → v{pinned_version}: {_error_rate(summary)}",
        )
        pin = wait_for(lambda: lifecycle.pin_record(VICTIM), what="detection")
        story.step(
            lifecycle,
            f"detected from CloudTrail → EventBridge: ledger item {pin.key.id}, 1 tracking execution",
        )

        story.chapter("The escalation ladder on a compressed clock (owner → team → on-call)")
        sent: set[str] = set()

        def report_notices() -> None:
            for audience in ("owner", "team", "oncall"):
                for notice in lifecycle.notices(audience):
                    sent.add(notice["kind"])
                    story.step(lifecycle, f"notice to {audience}: {notice['subject']}")

        for _day in range(15):
            lifecycle.advance(1)
            report_notices()
            if lifecycle.pending_approval(VICTIM):
                break
        approval = wait_for(lambda: lifecycle.pending_approval(VICTIM), what="the approval request")

        story.chapter("On-call approves (IAM-authenticated decision API; the pinner could not)")
        status, body = lifecycle.decide(
            dana,
            action="approve",
            approval_id=approval["approval_id"],
            reason="I pinned it, let me approve",
        )
        story.step(
            lifecycle,
            f"{dana.arn} tries to approve their own pin → {status}: {body.get('refused')}",
        )
        alice = Principal("oncall-alice")
        status, body = lifecycle.decide(
            alice,
            action="approve",
            approval_id=approval["approval_id"],
            reason="runtime regression tracked in INC-4711; try it",
        )
        story.step(lifecycle, f"{alice.arn} approves {approval['approval_id']} → {status}")

        story.chapter("Canary 1: the newest runtime is still the broken one")
        wait_for(
            lambda: (
                _victim(lifecycle).stage is Stage.CANARY
                or "last_canary" in _victim(lifecycle).evidence
            ),
            what="the canary",
        )
        _bake(lifecycle, lambda: "last_canary" in _victim(lifecycle).evidence, story)
        evidence = _victim(lifecycle).evidence["last_canary"]
        for line in _verdicts(evidence):
            story.step(lifecycle, line)
        story.step(lifecycle, f"rolled back: {evidence['rolled_back_because'][:140]}")
        report_notices()
        alias = lifecycle.lam.get_alias(FunctionName=VICTIM, Name="live")
        setting = lifecycle.lam.get_runtime_management_config(FunctionName=VICTIM)
        story.step(
            lifecycle,
            f"restored exactly: alias 'live' 100% on v{alias['FunctionVersion']}, $LATEST {setting['UpdateRuntimeOn']} on the original runtime version",
        )

        story.chapter("AWS ships a fixed runtime version; on-call approves again")
        fixed = aws.state.catalog.release(RUNTIME, REGION)
        story.step(lifecycle, f"released {fixed[0].name}")
        lifecycle.advance(1.1, step_days=0.25, settle=lambda: lifecycle.pending_approval(VICTIM))
        report_notices()
        approval = wait_for(lambda: lifecycle.pending_approval(VICTIM), what="the approval request")
        status, body = lifecycle.decide(
            alice,
            action="approve",
            approval_id=approval["approval_id"],
            reason="fixed runtime version is out",
        )
        story.step(lifecycle, f"{alice.arn} approves {approval['approval_id']} → {status}")

        story.chapter("Canary 2: 5% → 25% → 50%, judged on ExecutedVersion metrics, then promoted")
        _bake(lifecycle, lambda: not _victim(lifecycle).is_open, story)
        pin = _victim(lifecycle)
        for line in _verdicts(pin.evidence.get("canary", {})):
            story.step(lifecycle, line)
        alias = lifecycle.lam.get_alias(FunctionName=VICTIM, Name="live")
        setting = lifecycle.lam.get_runtime_management_config(FunctionName=VICTIM)
        story.step(
            lifecycle,
            f"pin {pin.stage}: alias 'live' 100% on v{alias['FunctionVersion']}, $LATEST {setting['UpdateRuntimeOn']}",
        )
        report_notices()

        story.chapter(
            "The audit trail (CloudWatch Logs, the same records `rollforward show` reads)"
        )
        for record in lifecycle.audit.read(pin_id=pin.key.id):
            detail = (
                record.details.get("step")
                or record.details.get("stage")
                or record.details.get("reason")
                or ""
            )
            story.say(
                f"  {record.at:%b %d %H:%M:%S}  {record.event:<18} {record.actor[:48]:<48} {str(detail)[:60]}"
            )
        ok = (
            pin.stage is Stage.RESOLVED
            and {"detected", "reminder", "team", "approval_request"} <= sent
        )

        story.chapter("Explore it yourself")
        story.say(
            "  rollforward emulator --deploy            # the embedded AWS as a server on 127.0.0.1:4566\n"
            "  rollforward emulator --deploy --member-accounts 222233334444 [--regions r1,r2]\n"
            "                                           # an Organization: the hub and its members\n"
            "  export AWS_ENDPOINT_URL=http://127.0.0.1:4566\n"
            "  rollforward status | rollforward show checkout | rollforward approve <id> --reason ...\n"
            "  rollforward console                      # the on-call console on http://127.0.0.1:8080\n"
            "  rollforward report [--output json | --csv posture.csv]   # the posture report\n"
            "  Against AWS: `cdk deploy`, then the same commands with your profile (README)."
        )
        ok = _posture(lifecycle, story, report_json) and ok
    ok = _member_account(story) and ok
    story.say(
        f"\n{'Done' if ok else 'FAILED'} in {time.monotonic() - story.started:.1f}s of wall time."
    )
    return 0 if ok else 1


def _member_account(story: Story) -> bool:
    """The same story in a member account of an Organization, told short: a fresh embedded
    AWS, the hub stack and the member stack its StackSet deploys, a pin in the member."""
    story.chapter(f"Every account of an Organization: a pin in member account {MEMBER}")
    with EmbeddedAws() as aws:
        aws.state.handler_log_level = "ERROR"
        lifecycle = Lifecycle(aws, deploy_hub(REGION, member_accounts=[MEMBER]))
        members = [t for t in lifecycle.deployment.stack_instances if not t.startswith(ACCOUNT)]
        story.step(
            lifecycle,
            f"hub stack {HUB_STACK_NAME} in {ACCOUNT}; its StackSet put the member stack in "
            f"{', '.join(members)} (rule to the hub's bus, roles) and in the hub's own account "
            "(roles only: the hub's own rule detects there)",
        )
        member = boto3.Session(region_name=REGION, **stack_set_credentials(MEMBER))
        lam = member.client("lambda")
        role = member.client("iam").create_role(
            RoleName="orders-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        arn = lam.create_function(
            FunctionName=MEMBER_FUNCTION,
            Runtime=RUNTIME,
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": _zip()},
            Tags={"rollforward:owner": "omar@example.com"},
        )["FunctionArn"]
        pinned = lam.get_function(FunctionName=MEMBER_FUNCTION)["Configuration"][
            "RuntimeVersionConfig"
        ]["RuntimeVersionArn"]
        lam.put_runtime_management_config(
            FunctionName=MEMBER_FUNCTION, UpdateRuntimeOn="Manual", RuntimeVersionArn=pinned
        )
        version = lam.publish_version(FunctionName=MEMBER_FUNCTION)["Version"]
        lam.create_alias(FunctionName=MEMBER_FUNCTION, Name="live", FunctionVersion=version)
        key = PinKey(arn)
        pin = wait_for(lambda: lifecycle.ledger.get(key), what="the member's pin")
        story.step(
            lifecycle,
            f"pinned in {MEMBER}; its rule forwarded the CloudTrail event to the hub's bus: "
            f"ledger item for {pin.key.function_name} in {pin.key.account}/{pin.key.region}",
        )

        def pending() -> dict[str, Any] | None:
            items = lifecycle.approvals_table.scan()["Items"]
            asked = [i for i in items if i["pin_id"] == key.id and i["status"] == "pending"]
            return max(asked, key=lambda i: i["requested_at"]) if asked else None

        for _day in range(16):
            if pending():
                break
            lifecycle.advance(1)
        approval = wait_for(pending, what="the member's approval request")
        story.step(
            lifecycle, "the ladder climbed (read as the member's reader role): on-call asked"
        )
        aws.state.catalog.release(RUNTIME, REGION)
        changed_by: set[str] = set()

        def record(call: Any) -> None:
            if call.account_id == MEMBER and call.event_source == "lambda.amazonaws.com":
                changed_by.add(str(call.user_identity.get("arn", "")))

        aws.state.api_call_listeners.append(record)
        status, _ = lifecycle.decide(
            Principal("oncall-alice"),
            action="approve",
            approval_id=approval["approval_id"],
            reason="newer runtime is out",
        )
        story.step(lifecycle, f"oncall-alice approves from the hub → {status}")
        for _bake_round in range(12):
            lifecycle.settle()
            if not (lifecycle.ledger.get(key) or pin).is_open:
                break
            generate_traffic(
                MEMBER_FUNCTION, "live", 50, timedelta(minutes=10), REGION, account_id=MEMBER
            )
        aws.state.drain()
        lifecycle.settle()
        aws.state.api_call_listeners.remove(record)
        pin = lifecycle.ledger.get(key) or pin
        alias = lam.get_alias(FunctionName=MEMBER_FUNCTION, Name="live")
        setting = lam.get_runtime_management_config(FunctionName=MEMBER_FUNCTION)
        story.step(
            lifecycle,
            f"pin {pin.stage} in {MEMBER}/{REGION}: alias 'live' on v{alias['FunctionVersion']}, "
            f"$LATEST {setting['UpdateRuntimeOn']}; changed there only by "
            f"{', '.join(sorted(a.split('/', 1)[1].rsplit('/', 1)[0] for a in changed_by))}",
        )
        return pin.stage is Stage.RESOLVED and setting["UpdateRuntimeOn"] == "Auto"


def _cli(*argv: str) -> tuple[int, str, str]:
    """`rollforward <argv>` as an operator's shell runs it, on this embedded AWS."""
    from rollforward_cli.main import main as rollforward

    stdout, stderr = io.StringIO(), io.StringIO()
    code = rollforward(list(argv), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def _posture(lifecycle: Lifecycle, story: Story, report_json: Path | None = None) -> bool:
    """The rest of the shared-responsibility table, two weeks later: the daily Posture function
    (the FunctionUpdate function's ledger item and ladder, the image owner's notice), ending
    with the report: `rollforward report` itself (the table) and
    `rollforward report --output json`, which must list every function with its row and
    status (written to `report_json` when given)."""
    import boto3

    story.chapter("Seventeen days later: the whole shared-responsibility table")
    lifecycle.advance(17, step_days=8.5)
    aws = lifecycle.aws
    pushed = posture_fleet.create_image_function(
        lifecycle.lam, lifecycle.role, account_id=ACCOUNT, region=REGION
    )
    story.step(
        lifecycle, f"'{posture_fleet.IMAGE}' runs {pushed['image_uri']}, pushed 120 days ago"
    )
    oldest = aws.state.catalog.versions(RUNTIME, REGION, "x86_64")[0].arn
    posture_fleet.create_pinning_stack(
        boto3.client("cloudformation"), boto3.client("iam"), lifecycle.role, oldest
    )
    billing = wait_for(
        lambda: lifecycle.pin_record(posture_fleet.STACK_FUNCTION),
        what="detection of the CloudFormation pin",
    )
    story.step(
        lifecycle,
        f"stack '{posture_fleet.STACK}' creates '{posture_fleet.STACK_FUNCTION}' pinned to Manual by its "
        f"template; detected, pinned by {billing.pinned_by}",
    )
    story.chapter("The daily posture run (the Posture function, as its schedule invokes it)")
    function = lifecycle.deployment.find("AWS::Lambda::Function", "Posture")
    answer = lifecycle.lam.invoke(FunctionName=function, Payload=b"{}")
    if "FunctionError" in answer:
        story.say(f"  the Posture function failed: {answer['Payload'].read()!r}")
        return False
    daily = json.loads(answer["Payload"].read())
    story.step(
        lifecycle,
        f"{daily['versions']} versions in their rows; "
        f"{daily['function_update_items_opened']} FunctionUpdate function left behind gets a "
        f"ledger item and its ladder; {daily['owner_notices']} old image's owner told",
    )
    item = wait_for(
        lambda: lifecycle.pin_record(posture_fleet.FUNCTION_UPDATE),
        what="the FunctionUpdate function's ledger item",
    )
    lifecycle.settle()
    told = False
    for notice_body in lifecycle.notices("owner"):
        story.step(lifecycle, f"notice to owner: {notice_body['subject']}")
        if notice_body.get("kind") == "image_outdated":
            text = notice_body["text"]
            told = told or (pushed["image_uri"].split(":")[0] in text and "Rebuild" in text)

    story.chapter("The posture report (`rollforward report`)")
    code, table, notes = _cli("report")
    story.say("\n".join("  " + line for line in table.splitlines()))
    story.say("\n".join("  " + line for line in notes.splitlines()))
    json_code, raw, errors = _cli("report", "--output", "json")
    if json_code != 0:
        story.say(f"  `rollforward report --output json` failed ({json_code}): {errors.strip()}")
        return False
    document = json.loads(raw)
    if report_json is not None:
        report_json.write_text(raw, encoding="utf-8")
    listed = {
        f["FunctionName"]
        for page in lifecycle.lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    }
    rows = {row.value for row in Row}
    statuses = {status.value for status in Status}
    latest = {f["function"]: f for f in document["functions"] if f["qualifier"] == "$LATEST"}
    complete = listed <= set(latest) and all(
        f["row"] in rows and f["status"] in statuses for f in document["functions"]
    )
    story.say(
        f"  `rollforward report --output json`: {len(document['functions'])} versions of "
        f"{len(latest)} functions, each with its row and status"
        + ("" if complete else f" — INCOMPLETE: missing {sorted(listed - set(latest))}")
    )

    def status(name: str) -> tuple[str, str] | None:
        found = latest.get(name)
        return (found["row"], found["status"]) if found else None

    return (
        code == 0
        and complete
        and status(posture_fleet.FUNCTION_UPDATE) == (Row.FUNCTION_UPDATE, Status.UNMET)
        and status(posture_fleet.IMAGE) == (Row.CONTAINER_IMAGE, Status.UNMET)
        and status(posture_fleet.STACK_FUNCTION) == (Row.MANUAL, Status.UNMET)
        and status(VICTIM) == (Row.AUTO, Status.MET)
        and bool(latest[posture_fleet.STACK_FUNCTION]["template_pin"])
        and told
        and item.kind is PinKind.FUNCTION_UPDATE
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rollforward demo", description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=50, help="fleet size (default 50)")
    parser.add_argument("--quiet", action="store_true", help="print nothing, exit 0 on success")
    parser.add_argument(
        "--report-json",
        type=Path,
        metavar="FILE",
        help="also write what `rollforward report --output json` printed at the end to FILE",
    )
    args = parser.parse_args(argv)
    if args.functions < 1:
        parser.error("--functions must be at least 1")
    return run(args.functions, args.quiet, args.report_json)


if __name__ == "__main__":
    sys.exit(main())
