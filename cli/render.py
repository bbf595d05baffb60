"""How the CLI prints: aligned plain-text tables for people, JSON for machines.

No table library: SREs paste this output into tickets and pipe it through `grep`/`awk`, so it
is plain text with space-aligned columns and no box drawing. `--output json` prints exactly
one JSON document on stdout; messages for people (progress, warnings, errors) go to stderr so
they never corrupt it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, TextIO

from rollforward.clock import iso
from rollforward.model import RUNTIME_VERSION_ARN

OUTPUT_FORMATS = ("table", "json")
EMPTY = "-"
_AGE_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def format_age(age: timedelta) -> str:
    """`16d 3h`, `5h 12m`, `40s`, `14d`: the most significant unit and the next one if not zero.

    Truncated, never rounded up (a pin 13d 23h old has not reached a 14d rung). Negative ages
    (a clock slightly behind the writer's) read as `0s`.
    """
    remaining = max(0, int(age.total_seconds()))
    amounts = []
    for unit, seconds in _AGE_UNITS:
        amount, remaining = divmod(remaining, seconds)
        amounts.append((amount, unit))
    first = next((i for i, (amount, _) in enumerate(amounts) if amount), len(amounts) - 1)
    shown = [f"{amount}{unit}" for amount, unit in amounts[first : first + 2] if amount]
    return " ".join(shown) or "0s"


def format_relative(moment: datetime, now: datetime) -> str:
    """`in 2d 4h` or `4h 10m ago` (`now` when within a second)."""
    delta = moment - now
    if abs(delta) < timedelta(seconds=1):
        return "now"
    if delta > timedelta(0):
        return f"in {format_age(delta)}"
    return f"{format_age(-delta)} ago"


def short_runtime_version(arn: str, name: str = "") -> str:
    """The version name when known (`python:3.12.v41`), else `runtime:2d0140a6753c…`.

    A runtime version ARN is 64 hex digits per region and architecture: the first twelve are
    plenty to tell versions apart in a table, and `show`/JSON print the full ARN.
    """
    if name:
        return name
    match = RUNTIME_VERSION_ARN.match(arn or "")
    if match is None:
        return arn or EMPTY
    return f"runtime:{match['digest'][:12]}…"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    cells = [list(headers), *[[str(cell) if cell != "" else EMPTY for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def format_fields(pairs: Sequence[tuple[str, str]], indent: str = "  ") -> str:
    """`label   value` lines with the labels aligned (for `show` and action results)."""
    if not pairs:
        return ""
    width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{indent}{label.ljust(width)}  {value or EMPTY}" for label, value in pairs)


def jsonable(value: Any) -> Any:
    """Plain JSON types: datetimes as ISO-8601 UTC, durations as seconds, Decimals as numbers."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def to_json(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, sort_keys=True)


class Output:
    """Where a command's result and messages go, in the format the user asked for."""

    def __init__(self, fmt: str, stdout: TextIO, stderr: TextIO) -> None:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}")
        self.format = fmt
        self.stdout = stdout
        self.stderr = stderr

    @property
    def is_json(self) -> bool:
        return self.format == "json"

    def result(self, data: Any, text: str) -> None:
        """The command's result: `data` as JSON, or `text` for people."""
        self.stdout.write((to_json(data) if self.is_json else text).rstrip("\n") + "\n")
        self.stdout.flush()

    def note(self, message: str) -> None:
        """Progress and warnings, for people; on stderr so JSON on stdout stays clean."""
        self.stderr.write(message.rstrip("\n") + "\n")
        self.stderr.flush()

    def error(self, message: str) -> None:
        """One line: `rollforward: <message>`."""
        first_line = " ".join(message.split())
        self.stderr.write(f"rollforward: {first_line}\n")
        self.stderr.flush()
