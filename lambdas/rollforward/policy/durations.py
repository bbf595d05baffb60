"""Policy durations: `"3d"`, `"1d12h"`, `"P3D"` — parsing, formatting, and the end of a hold."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

_COMPACT = re.compile(
    r"(?:(?P<w>\d{1,9})w)?(?:(?P<d>\d{1,9})d)?(?:(?P<h>\d{1,9})h)?(?:(?P<m>\d{1,9})m)?(?:(?P<s>\d{1,9})s)?"
)
_ISO = re.compile(
    r"P(?:(?P<w>\d{1,9})W)?(?:(?P<d>\d{1,9})D)?"
    r"(?:T(?=\d)(?:(?P<h>\d{1,9})H)?(?:(?P<m>\d{1,9})M)?(?:(?P<s>\d{1,9})S)?)?"
)
_UNIT_SECONDS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def parse_duration(text: str) -> timedelta:
    """Parse `"3d"`, `"1d12h"`, `"90m"`, `"P3D"`, `"PT12H"` into a timedelta.

    Raises ValueError with a message that quotes the input and shows the accepted forms.
    """
    if not isinstance(text, str):
        raise ValueError(f'{text!r} is not a duration like "3d" or "P3D" (expected a string)')
    value = text.strip()
    match = _COMPACT.fullmatch(value) or _ISO.fullmatch(value)
    if value in ("", "P") or match is None or not any(match.groups()):
        hint = ""
        if re.fullmatch(r"P(\d+Y)?(\d+M)?(\d+[WD])?(T.*)?", value) and re.search(
            r"\d+[YM]", value.split("T")[0]
        ):
            hint = " (months and years have no fixed length: use days)"
        raise ValueError(f'{json.dumps(text)} is not a duration like "3d" or "P3D"{hint}')
    parts = {unit: int(amount) for unit, amount in match.groupdict().items() if amount}
    try:
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    except OverflowError:
        raise ValueError(f"{json.dumps(text)} is too long a duration") from None


def resolve_until(text: str, now: datetime) -> datetime:
    """The end of a snooze or exemption: a duration from `now` (`3d`, `P3D`), an ISO date
    (midnight UTC) or an ISO date/time with a zone. Raises ValueError naming the forms."""
    if not isinstance(text, str):
        raise ValueError("the end must be a string (an ISO date/time or a duration like 3d)")
    value = text.strip()
    if not value:
        raise ValueError("an end is required (an ISO date/time or a duration like 3d)")
    if len(value) > 64:
        raise ValueError("the end is longer than 64 characters")
    try:
        duration = parse_duration(value)
    except ValueError:
        pass
    else:
        try:
            return _utc(now, "now") + duration
        except OverflowError:
            raise ValueError(f"{value!r} is too long a duration") from None
    try:
        moment = datetime.fromisoformat(
            (value + "T00:00:00Z" if len(value) == 10 else value).replace("Z", "+00:00")
        )
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"{value[:40]!r} is neither a duration like 3d or 12h nor an ISO date/time with a "
            "zone like 2026-12-24 or 2026-12-24T09:00:00Z"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value[:40]!r} is out of range") from None


def format_duration(value: timedelta, *, max_units: int | None = None) -> str:
    """Format as the compact spelling (`"1d12h"`, `"90m"` → `"1h30m"`, zero → `"0s"`).

    Sub-second parts are dropped, so `parse_duration(format_duration(d)) == d` for whole
    seconds. `max_units` keeps only the most significant units (truncating, never rounding
    up), for people: `format_duration(age, max_units=2)` → `"16d3h"`.
    """
    if value < timedelta(0):
        raise ValueError(f"negative duration: {value}")
    if max_units is not None and max_units < 1:
        raise ValueError("max_units must be at least 1")
    remaining = value.days * 86_400 + value.seconds
    parts: list[str] = []
    for unit, seconds in _UNIT_SECONDS:
        amount, remaining = divmod(remaining, seconds)
        if amount:
            parts.append(f"{amount}{unit}")
    if max_units is not None:
        parts = parts[:max_units]
    return "".join(parts) or "0s"


def _validate_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f'{json.dumps(value)} is not a duration like "3d" or "P3D"')


Duration = Annotated[
    timedelta,
    PlainValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["3d", "12h", "90m", "P3D", "PT12H"]}),
]


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)
