"""`rollforward scan [--dry-run]`: run the deployed reconciling scan now.

The scan runs where it always runs — the deployed scan Lambda, inside its rate budget and
with its own permissions — invoked synchronously; the CLI only starts it and prints its summary.
A synchronous invoke reports no progress, so the CLI shows an honest elapsed-time line (on a
terminal only), not a progress bar it cannot fill.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from types import TracebackType
from typing import Any, TextIO

from botocore.config import Config

from ..render import format_fields
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


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    scan = subparsers.add_parser(
        "scan",
        parents=parents,
        help="run the reconciling scan now (the deployed scan function)",
        description="Invoke the deployed scan function and wait for its summary. The scan finds "
        "pins no event announced, pins lifted elsewhere and deleted functions, within its rate "
        "budget.",
    )
    scan.add_argument(
        "--dry-run", action="store_true", help="report what the scan would change; change nothing"
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
    scan.set_defaults(handler=run_scan)
