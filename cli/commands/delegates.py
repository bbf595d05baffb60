"""`rollforward demo` and `rollforward console`: thin doors to modules built elsewhere.

Both are imported only when run (the demo pulls in the emulator, the console a web server),
and when a module is not there yet the command says so plainly instead of failing obscurely.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from typing import Any

from .base import EXIT_OK, ActionFailed, Context, UsageError

DEMO_MODULE = "emulator.demo"
CONSOLE_MODULE = "rollforward_cli.console"
DEFAULT_CONSOLE_PORT = 8080


def _load(name: str, what: str) -> Any:
    try:
        found = importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ActionFailed(f"{what} is not built yet (no module {name})")
    return importlib.import_module(name)


def run_demo(args: argparse.Namespace, context: Context) -> int:
    """`emulator.demo.main(argv)` with every argument after `demo` (`main` passes them on)."""
    demo = _load(DEMO_MODULE, "the demo")
    try:
        return int(demo.main(list(args.passthrough)) or 0)
    except SystemExit as done:  # the demo's own argparse: --help, or its usage error
        return done.code if isinstance(done.code, int) else 0


def run_console(args: argparse.Namespace, context: Context) -> int:
    """`rollforward_cli.console.serve(target, port=, host=, open_browser=)` until Ctrl-C."""
    console = _load(CONSOLE_MODULE, "the console")
    try:
        console.serve(context.target, port=args.port, host=args.host, open_browser=args.open)
    except ValueError as error:  # a host that is not loopback
        raise UsageError(str(error)) from None
    except OSError as error:
        raise ActionFailed(
            f"cannot serve the console on {args.host}:{args.port}: {error.strerror or error}"
        ) from None
    except KeyboardInterrupt:
        context.out.note("console stopped")
    return EXIT_OK


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        parents=parents,
        help="the whole lifecycle against the embedded AWS, in a couple of minutes",
        description="Run the scripted demo in the embedded AWS (no AWS account needed). "
        "Other arguments (e.g. --functions N, --quiet) are the demo's own.",
    )
    demo.set_defaults(handler=run_demo, accepts_passthrough=True)

    console = subparsers.add_parser(
        "console",
        parents=parents,
        help="the approval console in your browser (local web server)",
        description="Serve the on-call console locally; it uses your AWS credentials.",
    )
    console.add_argument("--port", type=int, default=DEFAULT_CONSOLE_PORT, help="port to serve on")
    console.add_argument(
        "--host", default="127.0.0.1", help="loopback address to serve on (127.0.0.1 or ::1)"
    )
    console.add_argument("--open", action="store_true", help="open it in the default browser")
    console.set_defaults(handler=run_console)
