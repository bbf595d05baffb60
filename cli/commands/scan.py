"""`rollforward scan [--full|--screen]`: start a cycle of the scan's machine now (as the hourly
schedule does: every (account, region), each on its own budget) and say how to follow it;
`rollforward scan --dry-run`: what the scan function would change in the hub's own account and
region, changing nothing; `rollforward scan --status`: the cycles (`cycle_status`).

The dry run runs where the scan always runs — the deployed scan Lambda, inside its rate budget
and with its own permissions — invoked synchronously; a synchronous invoke reports no progress,
so the CLI shows an honest elapsed-time line (on a terminal only), not a progress bar it cannot
fill.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

from botocore.config import Config
from rollforward.adapters.dynamodb_target_records import DynamoTargetRecords
from rollforward.scan.cycle import MAX_TARGET_LINES, TargetLine, TargetOutcome

from ..render import format_fields, format_table
from .base import EXIT_OK, ActionFailed, Context

# Lambda's maximum timeout is 15 minutes; wait a little longer than that for the answer.
SCAN_READ_TIMEOUT = 15 * 60 + 30
# A read timeout must not re-invoke a long scan: retry only what botocore retries quickly.
SCAN_CLIENT_CONFIG = Config(
    read_timeout=SCAN_READ_TIMEOUT,
    connect_timeout=10,
    retries={"mode": "adaptive", "max_attempts": 3},
)


class ElapsedLine:
    """`scanning… 12s` rewritten in place on a terminal while a blocking call runs."""

    def __init__(self, stream: TextIO, label: str, interval: float = 0.5) -> None:
        self._stream, self._label, self._interval = stream, label, interval
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    def __enter__(self) -> ElapsedLine:
        isatty = getattr(self._stream, "isatty", None)
        if callable(isatty) and isatty():
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            elapsed = int(time.monotonic() - self._started)
            self._stream.write(f"\r{self._label}… {elapsed}s")
            self._stream.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._stream.write("\r\033[K")
            self._stream.flush()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._started


def _summary_value(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, default=str)
        return text if len(text) <= 100 else text[:99] + "…"
    return str(value)


def scan_request(args: argparse.Namespace) -> dict[str, Any]:
    """The scan function's event: dry run, and full or screening when asked."""
    request: dict[str, Any] = {"dry_run": bool(args.dry_run)}
    if getattr(args, "full", None) is not None:
        request["full"] = bool(args.full)
    return request


def run_scan(args: argparse.Namespace, context: Context) -> int:
    function = context.discovery.get("scan_function")
    if not function:
        raise ActionFailed("this deployment has no scan function (discovery has no scan_function)")
    target = context.target
    client = target.session.client(
        "lambda", endpoint_url=target.endpoint_url, config=SCAN_CLIENT_CONFIG
    )
    mode = "dry run" if args.dry_run else "reconciling"
    with ElapsedLine(context.out.stderr, f"scanning ({mode})") as elapsed:
        response = client.invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(scan_request(args)).encode(),
        )
    raw = response["Payload"].read()
    try:
        result = json.loads(raw) if raw else {}
    except ValueError:
        result = {"response": raw.decode(errors="replace")[:2000]}
    if response.get("FunctionError"):
        detail = result if isinstance(result, dict) else {}
        message = detail.get("errorMessage") or json.dumps(result)[:500]
        kind = detail.get("errorType", response["FunctionError"])
        raise ActionFailed(f"the scan function {function} failed: {kind}: {message}")
    title = f"scan finished in {elapsed.seconds:.1f}s ({mode}" + (
        ": nothing was changed)" if args.dry_run else ")"
    )
    pairs = (
        [(str(key), _summary_value(value)) for key, value in sorted(result.items())]
        if isinstance(result, dict)
        else [("result", _summary_value(result))]
    )
    context.out.result(
        {"dry_run": bool(args.dry_run), "seconds": round(elapsed.seconds, 3), "result": result},
        f"{title}\n{format_fields(pairs)}",
    )
    return EXIT_OK


# ------------------------------------------------------------------ scan --status
# Cycles read back for `--status` (the newest first): enough to find the last ended one.
STATUS_EXECUTIONS = 20
FAILED_SHOWN = 10  # failed targets named on the "failed" line (the table lists them all)


def cycle_status(
    sfn: Any,
    machine_arn: str,
    recorded: Callable[[str], list[TargetOutcome]] | None = None,
) -> dict[str, Any]:
    """The scan's machine as `rollforward scan --status` shows it: the cycle running now (its
    Map Run's item counts: targets done, running, failed, pending; with `recorded`, the records
    its children wrote so far, a line per target) and the last ended one (its output,
    `rollforward.scan.cycle.CycleReport`: coverage and a line per (account, region)). Reads
    Step Functions (ListExecutions, DescribeExecution, ListMapRuns, DescribeMapRun), and the
    ledger's table through `recorded` (DynamoTargetRecords.of_cycle)."""
    listed = sfn.list_executions(stateMachineArn=machine_arn, maxResults=STATUS_EXECUTIONS)
    executions = sorted(listed.get("executions", []), key=lambda e: e["startDate"], reverse=True)
    running = next((e for e in executions if e["status"] == "RUNNING"), None)
    ended = next((e for e in executions if e["status"] != "RUNNING"), None)
    return {
        "state_machine_arn": machine_arn,
        "running": _running_cycle(sfn, running, recorded) if running else None,
        "last": _ended_cycle(sfn, ended) if ended else None,
    }


def _running_cycle(
    sfn: Any,
    execution: dict[str, Any],
    recorded: Callable[[str], list[TargetOutcome]] | None,
) -> dict[str, Any]:
    arn = execution["executionArn"]
    found: dict[str, Any] = {"execution_arn": arn, "started": execution["startDate"]}
    runs = sfn.list_map_runs(executionArn=arn).get("mapRuns", [])
    if not runs:
        found["phase"] = "planning"  # Plan has not handed the targets to the Map yet
        return found
    counts = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"]).get("itemCounts", {})
    done = int(counts.get("succeeded", 0))
    failed = sum(int(counts.get(k, 0)) for k in ("failed", "timedOut", "aborted"))
    found.update(
        phase="scanning" if done + failed < int(counts.get("total", 0)) else "reporting",
        targets=int(counts.get("total", 0)),
        targets_done=done,
        targets_running=int(counts.get("running", 0)),
        targets_pending=int(counts.get("pending", 0)),
        targets_failed=failed,
    )
    if recorded is not None:
        lines = [TargetLine.of(outcome) for outcome in recorded(arn)]
        found["per_target"] = [line.model_dump() for line in lines[:MAX_TARGET_LINES]]
        found["per_target_omitted"] = max(0, len(lines) - MAX_TARGET_LINES)
    return found


def _ended_cycle(sfn: Any, execution: dict[str, Any]) -> dict[str, Any]:
    arn = execution["executionArn"]
    described = sfn.describe_execution(executionArn=arn)
    found: dict[str, Any] = {
        "execution_arn": arn,
        "status": described["status"],
        "started": described["startDate"],
        "stopped": described.get("stopDate"),
    }
    if described["status"] != "SUCCEEDED":
        found.update(error=described.get("error", ""), cause=described.get("cause", ""))
        return found
    report = json.loads(described.get("output") or "{}")
    targets = int(report.get("targets", 0))
    functions = int(report.get("functions_seen", 0))
    calls = int(report.get("control_plane_calls", 0))
    found["report"] = report
    found["coverage"] = report.get("targets_complete", 0) / targets if targets else None
    found["calls_per_function"] = round(calls / functions, 3) if functions else None
    return found


def render_status(status: dict[str, Any]) -> str:
    """`scan --status` for people: the running cycle's progress, the last cycle's coverage,
    and a line per (account, region)."""
    lines: list[str] = []
    running, last = status["running"], status["last"]
    if running is None and last is None:
        return "no scan cycle has run yet (the hourly schedule starts one)"
    if running is not None:
        started = _when(running["started"])
        if running["phase"] == "planning":
            lines.append(f"scan cycle running since {started}: planning")
        else:
            lines.append(
                f"scan cycle running since {started}: {running['targets_done']} of "
                f"{running['targets']} targets done, {running['targets_running']} scanning, "
                f"{running['targets_pending']} waiting, {running['targets_failed']} failed"
            )
        lines.extend(_target_table(running, state=True))
    if last is not None:
        lines.extend(_render_ended(last))
    return "\n".join(lines)


def _target_table(cycle: dict[str, Any], *, state: bool = False) -> list[str]:
    """A cycle's lines per (account, region) (`per_target`), and how many it leaves out; with
    `state`, where a running cycle's target stands."""
    per_target = cycle.get("per_target") or []
    if not per_target:
        return []

    def standing(line: dict[str, Any]) -> str:
        if not state:
            return "yes" if line["complete"] else "no"
        return "failed" if line.get("error") else "done" if line["complete"] else "scanning"

    headers = ["target", "state" if state else "complete", "functions", "calls"]
    headers += ["invocations", "time", "error"]
    rows = [
        [
            line["target"],
            standing(line),
            str(line["functions_seen"]),
            str(line["control_plane_calls"]),
            str(line["invocations"]),
            _minutes(float(line["seconds"])),
            line.get("error", ""),
        ]
        for line in per_target
    ]
    text = [format_table(headers, rows)]
    if cycle.get("per_target_omitted"):
        text.append(
            f"(and {cycle['per_target_omitted']} more targets, not listed: failed and "
            "incomplete come first)"
        )
    return text


def _render_ended(last: dict[str, Any]) -> list[str]:
    title = f"last scan cycle {last['status'].lower()} at {_when(last.get('stopped'))}"
    if last["status"] != "SUCCEEDED":
        return [f"{title}: {last.get('error') or 'no error'}: {last.get('cause') or ''}".rstrip()]
    report = last["report"]
    cycle = report.get("cycle", {})
    if report.get("still_running"):
        return [f"{title}: skipped, cycle {report['still_running']} was still scanning"]
    coverage = last["coverage"]
    pairs = [
        ("cycle", f"{cycle.get('id', '?')} ({'full pass' if cycle.get('full') else 'screening'})"),
        (
            "coverage",
            f"{coverage:.0%} ({report.get('targets_complete')} of {report.get('targets')} "
            "targets, every phase)"
            if coverage is not None
            else "no targets",
        ),
        ("length", f"{_minutes(float(report.get('seconds', 0.0)))} (the longest target)"),
        ("functions", str(report.get("functions_seen", 0))),
        (
            "shared-bucket calls",
            f"{report.get('control_plane_calls', 0)} ({last['calls_per_function']} per function)"
            f", {report.get('throttled', 0)} throttled",
        ),
        ("pins", f"{report.get('opened', 0)} opened, {report.get('closed', 0)} closed"),
    ]
    failed = report.get("targets_failed") or []
    total = max(len(failed), int(report.get("targets_failed_total") or 0))
    if failed:
        named = "; ".join(failed[:FAILED_SHOWN])
        more = f"; and {total - FAILED_SHOWN} more" if total > FAILED_SHOWN else ""
        pairs.append(("failed", f"{total}: {named}{more}"))
    if report.get("organization_unreadable"):
        pairs.append(("organization", f"UNREADABLE: {report['organization_unreadable']}"))
    return [title, format_fields(pairs), *_target_table(report)]


def _when(moment: Any) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(moment or "?")


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def run_status(args: argparse.Namespace, context: Context) -> int:
    records = DynamoTargetRecords(context.target.table(context.discovery["ledger_table"]))
    status = cycle_status(
        context.target.client("stepfunctions"), _scan_machine(context), records.of_cycle
    )
    context.out.result(status, render_status(status))
    return EXIT_OK


def running_cycle(sfn: Any, machine_arn: str) -> dict[str, Any] | None:
    """The scan machine's running execution (the newest), if any."""
    listed = sfn.list_executions(
        stateMachineArn=machine_arn, statusFilter="RUNNING", maxResults=STATUS_EXECUTIONS
    )
    running = sorted(listed.get("executions", []), key=lambda e: e["startDate"], reverse=True)
    return running[0] if running else None


def start_cycle(args: argparse.Namespace, context: Context) -> int:
    """`rollforward scan`: start a cycle of the scan's machine now, as the hourly schedule
    does (every (account, region), each on its own budget), and say how to follow it. A cycle
    already running is refused here: the machine would start, find it (one scanner per
    bucket), scan nothing and report `cycle_skipped`; refusing changes nothing, so it is not
    audited."""
    machine = _scan_machine(context)
    sfn = context.target.client("stepfunctions")
    caller = context.target.client("sts").get_caller_identity()["Arn"]
    running = running_cycle(sfn, machine)
    if running is not None:
        raise ActionFailed(
            f"a scan cycle is already running (since {_when(running['startDate'])}: "
            f"{running['executionArn']}); a second one would scan nothing while it runs (one "
            "scanner per (account, region) bucket: it would end as cycle_skipped). Follow it "
            "with `rollforward scan --status`."
        )
    # The cycle's Plan audits who asked (`cycle_requested`), as the scan function: an operator
    # needs no right to write the audit trail, only to start the scan's machine.
    execution_input: dict[str, Any] = {"requested_by": caller}
    if args.full is not None:
        execution_input["full"] = bool(args.full)
    started = sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input))
    arn = started["executionArn"]
    depth = {True: "full pass", False: "screening"}.get(args.full, "as SCAN_FULL_EVERY decides")
    context.out.result(
        {"execution_arn": arn, "started": started["startDate"], **execution_input},
        f"scan cycle started ({depth}): {arn}\n"
        "follow it with `rollforward scan --status` (`--output json` for scripts)",
    )
    return EXIT_OK


def _scan_machine(context: Context) -> str:
    machine = context.discovery.get("scan_state_machine_arn")
    if not machine:
        raise ActionFailed(
            "this deployment has no scan machine (discovery has no scan_state_machine_arn): "
            "it predates the scan cycle over every account and region; deploy again"
        )
    return str(machine)


def run(args: argparse.Namespace, context: Context) -> int:
    if args.status:
        return run_status(args, context)
    # The dry run changes nothing, so it stays a direct invoke of the scan function (the hub's
    # own account and region) and prints what it would change.
    return run_scan(args, context) if args.dry_run else start_cycle(args, context)


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    scan = subparsers.add_parser(
        "scan",
        parents=parents,
        help="start a reconciling scan cycle now (every account and region)",
        description="Start a cycle of the deployed scan machine now, as the hourly schedule "
        "does, and print its execution (follow it with --status); refused while a cycle runs. "
        "The scan finds pins no event announced, pins lifted elsewhere and deleted functions, "
        "within each (account, region)'s rate budget.",
    )
    scan.add_argument(
        "--dry-run",
        action="store_true",
        help="invoke the scan function in the hub's own account and region and report what it "
        "would change; change nothing",
    )
    scan.add_argument(
        "--status",
        action="store_true",
        help="show the hourly scan cycle over every (account, region) instead: the one running "
        "now, the last one's coverage, a line per target (runs nothing)",
    )
    depth = scan.add_mutually_exclusive_group()
    depth.add_argument(
        "--full",
        dest="full",
        action="store_const",
        const=True,
        help="a full reconciliation (every function's runtime settings and aliases)",
    )
    depth.add_argument(
        "--screen",
        dest="full",
        action="store_const",
        const=False,
        help="a screening cycle: GetFunction on every function, settings only for outliers and "
        "pins rollforward tracks (default: as the deployment's SCAN_FULL_EVERY decides)",
    )
    scan.set_defaults(handler=run)
