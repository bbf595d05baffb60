"""The `rollforward:alarms` tags: one alarm name per tag (`key`, `key-2`, `key-3`, …).

Lambda's TagValue pattern `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*` refuses `,` and `;`, and every
character it allows may appear in an alarm name: no separator inside one value is safe.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rollforward.canary.alarms import watched_alarms

KEY = "rollforward:alarms"
# Characters the TagValue pattern accepts: letters (\p{L}), separators (\p{Z}), digits (\p{N}).
TAG_VALUE_CHARS = st.characters(categories=("L", "Z", "N"), include_characters="_.:/=+-@")


def test_one_name_per_tag_in_number_order_whole() -> None:
    tags = {
        f"{KEY}-3": "latency p99 / checkout",
        KEY: "checkout errors+throttles",
        f"{KEY}-2": "checkout-health",
        "rollforward:owner": "alice@example.com",
        f"{KEY}-x": "ignored",
        f"{KEY}-1": "ignored: the first is the bare key",
        f"{KEY}-02": "ignored: no leading zero",
        f"{KEY}-4": "  ",
    }
    assert watched_alarms(tags, KEY) == [
        "checkout errors+throttles",
        "checkout-health",
        "latency p99 / checkout",
    ]


def test_no_tag_watches_nothing_and_duplicates_count_once() -> None:
    assert watched_alarms({}, KEY) == []
    assert watched_alarms({KEY: "a", f"{KEY}-2": "a"}, KEY) == ["a"]


@given(st.lists(st.text(TAG_VALUE_CHARS, max_size=40), min_size=1, max_size=8))
def test_every_value_lambda_accepts_is_watched_exactly(values: list[str]) -> None:
    tags = {KEY if i == 0 else f"{KEY}-{i + 1}": v for i, v in enumerate(values)}
    expected: list[str] = []
    for value in values:
        if value.strip() and value.strip() not in expected:
            expected.append(value.strip())
    assert watched_alarms(tags, KEY) == expected
