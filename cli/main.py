"""The `rollforward` command.

    rollforward status | show FUNCTION | approve ID | reject ID | snooze FUNCTION |
                exempt FUNCTION | scan | report | doctor | demo | console | emulator [CONTROL ...]

Exit codes (scripts rely on them): 0 done; 1 refused or failed (nothing changed on a refusal);
2 bad arguments (nothing was sent); 3 rollforward is not deployed there, or AWS / the emulator
cannot be reached. Errors are one line on stderr; `--output json` results are one JSON
document on stdout.

The target is the standard AWS configuration (`--profile`, `--region`, `AWS_ENDPOINT_URL`);
with none, or with `--emulator`, the embedded AWS at http://127.0.0.1:4566.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from importlib import metadata
from typing import NoReturn, TextIO

from .aws import AmbiguousDeployment, NotDeployed
from .commands import decisions, delegates, doctor, emulator, pins, report, scan
from .commands.base import (
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
    Context,
    GlobalOptions,
    UsageError,
)
from .errors import explain
from .render import OUTPUT_FORMATS, Output

COMMAND_GROUPS = (pins, decisions, scan, report, doctor, delegates, emulator)


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and lets `main` return its exit code."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("rollforward").strip()
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see `{self.prog} --help`)")


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """On the top-level parser with defaults; on every sub-command with SUPPRESS, so an option
    is accepted before or after the command and a later position never resets an earlier one."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("AWS target and output")
    group.add_argument("--profile", default=default(None), help="AWS profile (~/.aws/config)")
    group.add_argument("--region", default=default(None), help="AWS region")
    group.add_argument(
        "--endpoint-url",
        default=default(None),
        help="AWS endpoint (default: AWS_ENDPOINT_URL, else AWS itself)",
    )
    group.add_argument(
        "--emulator",
        action="store_true",
        default=default(False),
        help="use the embedded AWS (http://127.0.0.1:4566 unless --endpoint-url)",
    )
    group.add_argument(
        "--stack",
        default=default(os.environ.get("ROLLFORWARD_STACK") or None),
        help="the rollforward stack (CloudFormation stack name) when several are deployed "
        "in the account and region (default: ROLLFORWARD_STACK, else the only one)",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="after an error's one-line explanation, print its details (traceback)",
    )
    group.add_argument(
        "--output",
        choices=OUTPUT_FORMATS,
        default=default("table"),
        help="table (for people, default) or json (for scripts)",
    )


def _version() -> str:
    try:
        return metadata.version("rollforward")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> Parser:
    parser = Parser(
        prog="rollforward",
        description="Find Lambda functions pinned to a Manual runtime version, track and "
        "escalate them, and roll them forward to Auto behind a canary.",
        epilog="Exit codes: 0 ok, 1 refused or failed, 2 bad arguments, "
        "3 not deployed or AWS unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"rollforward {_version()}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands, [common])
    return parser


def main(
    argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run one command; returns its exit code (the console script exits with it).

    `stdout`/`stderr` default to the process's; embedders and tests pass their own so results
    are not mixed with anything else the process prints.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        args, passthrough = parser.parse_known_args(argv)
        if passthrough and not getattr(args, "accepts_passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(passthrough)}")
        args.passthrough = passthrough
    except UsageError as error:
        Output("table", stdout, stderr).error(str(error))
        return EXIT_USAGE
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else 0
    out = Output(args.output, stdout, stderr)
    options = GlobalOptions(
        profile=args.profile,
        region=args.region,
        endpoint_url=args.endpoint_url,
        emulator=args.emulator,
        output=args.output,
        stack=args.stack,
    )
    context = Context(options, out)
    try:
        return int(args.handler(args, context))
    except CliError as error:
        out.error(str(error))
        return error.exit_code
    except AmbiguousDeployment as error:
        out.error(str(error))
        return EXIT_USAGE
    except NotDeployed as error:
        out.error(str(error))
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except Exception as error:  # every other failure: one sentence, details only on request
        sentence, code = explain(error)
        out.error(sentence)
        if getattr(args, "debug", False):
            stderr.write("".join(traceback.format_exception(error)))
        return code


if __name__ == "__main__":
    sys.exit(main())
