"""Which alarms the owner asks the canary to watch, from the function's tags."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

# Lambda's TagValue pattern ([\p{L}\p{Z}\p{N}_.:/=+\-@]*) admits no separator an alarm name
# cannot contain (names may hold spaces, "+", "/"...): one alarm per tag, numbered keys for more.
_WATCHED_SUFFIX: Final = re.compile(r"-(?P<n>[2-9]|[1-9][0-9]{1,2})")
MAX_WATCHED_ALARMS: Final = 100  # DescribeAlarms AlarmNames: at most 100 members


def watched_alarms(tags: Mapping[str, str], key: str) -> list[str]:
    """Alarm names from the tags `key`, `key-2`, `key-3`, … (one name each, in number order).

    A value is one alarm name, kept whole (only surrounding whitespace is dropped); empty values
    and other keys are ignored; duplicates count once. For many alarms, watch one composite.
    """
    numbered: list[tuple[int, str]] = []
    for tag, value in tags.items():
        if tag == key:
            number = 1
        elif tag.startswith(key) and (match := _WATCHED_SUFFIX.fullmatch(tag[len(key) :])):
            number = int(match.group("n"))
        else:
            continue
        if isinstance(value, str) and value.strip():
            numbered.append((number, value.strip()))
    names: list[str] = []
    for _, name in sorted(numbered):
        if name not in names:
            names.append(name)
    return names
