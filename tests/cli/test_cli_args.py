"""The `rollforward` command line without AWS: argument errors, exit codes, parsing, rendering.

Every bad invocation must exit 2 with one line on stderr and send nothing anywhere; the
`no_network` fixture makes any attempt to reach AWS or the emulator fail the test.
"""

from __future__ import annotations

import importlib.util
import io
import socket
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollforward.clock import iso
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey
from rollforward.policy import format_duration, parse_duration
from rollforward_cli.commands import base, delegates
from rollforward_cli.commands.base import (
    ActionFailed,
    UsageError,
    check_until,
    choose_pin,
    parse_function_ref,
)
from rollforward_cli.main import build_parser, main
from rollforward_cli.render import format_age, format_table

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"
APPROVAL_ID = "apr-" + "0" * 32


def run(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a bad invocation tried to reach AWS or the emulator")

    monkeypatch.setattr(base, "resolve_target", refuse)
    monkeypatch.setattr(base.requests, "post", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def event_files(tmp_path: Path) -> Path:
    (tmp_path / "not-json.json").write_text("{nope")
    (tmp_path / "not-an-event.json").write_text('{"hello": "world"}')
    (tmp_path / "empty-log.json").write_text('{"Records": []}')
    return tmp_path


BAD_INVOCATIONS = {
    "no command": ([], "the following arguments are required: COMMAND"),
    "unknown command": (["promote"], "invalid choice: 'promote'"),
    "unknown output": (["--output", "yaml", "status"], "invalid choice: 'yaml'"),
    "unknown option": (["status", "--oldest"], "unrecognized arguments: --oldest"),
    "approve without reason": (["approve", APPROVAL_ID], "required: --reason"),
    "approve blank reason": (
        ["approve", APPROVAL_ID, "--reason", "  "],
        "--reason: a reason is required",
    ),
    "approve huge reason": (["approve", APPROVAL_ID, "--reason", "x" * 1001], "at most 1000"),
    "approve not an id": (["approve", "12345", "--reason", "ok"], "'12345' is not an approval id"),
    "reject without id": (["reject", "--reason", "no"], "required: ID"),
    "snooze without until": (["snooze", "orders", "--reason", "x"], "required: --until"),
    "snooze bad until": (
        ["snooze", "orders", "--until", "next week", "--reason", "x"],
        "'next week' is neither a duration",
    ),
    "snooze naive time": (
        ["snooze", "orders", "--until", "2026-12-24T09:00:00", "--reason", "x"],
        "is neither a duration",
    ),
    "exempt months": (["exempt", "orders", "--until", "P1M", "--reason", "x"], "is neither"),
    "snooze an alias": (
        ["snooze", "orders:live", "--until", "3d", "--reason", "x"],
        "qualifier 'live' is not $LATEST or a version number",
    ),
    "show two qualifiers": (
        ["show", "orders:3", "--qualifier", "4"],
        "names qualifier 3 but --qualifier says 4",
    ),
    "show not a function arn": (
        ["show", "arn:aws:lambda:us-east-1:123456789012:layer:x"],
        "is not a Lambda function ARN",
    ),
    "show empty": (["show", ""], "FUNCTION must not be empty"),
    "clock advance in words": (["emulator", "clock", "advance", "3 days"], "is not a duration"),
    "clock without action": (["emulator", "clock"], "required: ACTION"),
    "release error rate": (
        ["emulator", "runtime", "release", "python3.12", "--error-rate", "1.5"],
        "must be between 0 and 1",
    ),
    "release error rate text": (
        ["emulator", "runtime", "release", "python3.12", "--error-rate", "5%"],
        "invalid float value",
    ),
    "traffic no rate": (
        ["emulator", "traffic", "orders", "--rps", "0", "--duration", "1m"],
        "--rps 0.0 must be positive",
    ),
    "traffic no time": (
        ["emulator", "traffic", "orders", "--rps", "5", "--duration", "0s"],
        "--duration must be longer than zero",
    ),
    "traffic bad target": (
        ["emulator", "traffic", "orders:", "--rps", "5", "--duration", "1m"],
        "is not FUNCTION or FUNCTION:ALIAS",
    ),
    "throttle maybe": (["emulator", "throttle", "maybe"], "invalid choice: 'maybe'"),
    "throttle zero rate": (["emulator", "throttle", "on", "--rate", "0"], "must be positive"),
    "replay missing file": (["emulator", "replay", "/no/such/event.json"], "cannot read"),
    "emulator bad port": (["emulator", "--port", "http"], "invalid int value"),
    "member account not an id": (
        ["emulator", "--deploy", "--member-accounts", "2222,333344445555"],
        "'2222' is not a 12-digit account id",
    ),
    "member account is the hub": (
        ["emulator", "--deploy", "--member-accounts", "123456789012"],
        "is the hub's own account",
    ),
    "members without deploy": (
        ["emulator", "--member-accounts", "222233334444"],
        "add --deploy",
    ),
    "regions without members": (
        ["emulator", "--deploy", "--regions", "eu-west-1"],
        "give --member-accounts",
    ),
    "member region not a region": (
        ["emulator", "deploy", "--member-accounts", "222233334444", "--regions", "mars"],
        "'mars' is not a region name",
    ),
}


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("argv", "message"), list(BAD_INVOCATIONS.values()), ids=list(BAD_INVOCATIONS)
)
def test_bad_arguments_exit_2_with_one_line_and_send_nothing(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)

    assert code == 2
    assert out == ""
    assert err.startswith("rollforward: ")
    assert err.count("\n") == 1
    assert message in err


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-json.json", "is not JSON"),
        ("not-an-event.json", "neither an EventBridge event"),
        ("empty-log.json", "holds no events"),
    ],
)
def test_replay_refuses_files_that_hold_no_event(
    event_files: Path, name: str, message: str
) -> None:
    code, _, err = run("emulator", "replay", str(event_files / name))
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["status"],
        ["show"],
        ["approve"],
        ["reject"],
        ["snooze"],
        ["exempt"],
        ["scan"],
        ["demo"],
        ["console"],
        ["emulator"],
        ["emulator", "clock", "advance"],
        ["emulator", "runtime", "release"],
        ["emulator", "runtime", "rollout"],
        ["emulator", "traffic"],
        ["emulator", "replay"],
        ["emulator", "throttle"],
        ["emulator", "deploy"],
    ],
)
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(*argv, "--help")
    assert code == 0
    assert err == ""
    assert capsys.readouterr().out.startswith(f"usage: rollforward {' '.join(argv)}".rstrip())


def test_global_options_are_accepted_before_or_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--output", "json", "--region", "eu-west-1", "status"])
    after = parser.parse_args(["status", "--output", "json", "--region", "eu-west-1"])
    neither = parser.parse_args(["status"])

    assert (before.output, before.region) == (after.output, after.region) == ("json", "eu-west-1")
    assert (neither.output, neither.region, neither.emulator) == ("table", None, False)
    # A sub-command does not reset what was given before it.
    assert parser.parse_args(["--emulator", "emulator", "clock", "now"]).emulator is True


# ------------------------------------------------------------------------ exit code 3


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


@pytest.mark.parametrize(
    "argv", [["status"], ["emulator", "clock", "now"], ["approve", APPROVAL_ID, "--reason", "ok"]]
)
def test_no_emulator_listening_exits_3_at_once(closed_port: int, argv: list[str]) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"

    code, out, err = run(*argv, "--endpoint-url", endpoint)

    assert code == 3
    assert out == ""
    assert err == f"rollforward: no emulator at {endpoint}; start one with `rollforward emulator`\n"


def test_not_deployed_exits_3_and_says_how_to_deploy(aws: Any) -> None:
    code, _, err = run("status")
    assert code == 3
    assert "rollforward is not deployed here" in err
    assert "rollforward emulator --deploy" in err


@pytest.mark.parametrize(
    ("command", "module"), [("demo", "emulator.demo"), ("console", "rollforward_cli.console")]
)
def test_a_command_whose_module_is_missing_says_so(
    monkeypatch: pytest.MonkeyPatch, command: str, module: str
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: None if name == module else real_find_spec(name, *rest),
    )
    code, _, err = run(command)
    assert code == 1
    assert err == f"rollforward: the {command} is not built yet (no module {module})\n"


def test_demo_gets_every_argument_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[list[str]] = []

    def demo_main(argv: list[str]) -> int:
        received.append(argv)
        return 0

    monkeypatch.setattr(delegates, "_load", lambda name, what: SimpleNamespace(main=demo_main))

    assert run("--output", "json", "demo", "--functions", "5", "--quiet")[0] == 0
    assert received == [["--functions", "5", "--quiet"]]


def test_unknown_arguments_are_refused_for_every_command_but_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delegates, "_load", lambda name, what: SimpleNamespace(main=lambda a: 0))
    assert run("demo", "--anything")[0] == 0
    code, _, err = run("scan", "--anything")
    assert code == 2
    assert "unrecognized arguments: --anything" in err


# ------------------------------------------------------------------------ FUNCTION → pin


def _pin(arn: str = ARN, qualifier: str = "$LATEST", stage: Stage = Stage.TRACKING) -> Pin:
    return Pin(
        key=PinKey(arn, qualifier),
        generation=1,
        stage=stage,
        first_seen=datetime(2026, 11, 1, tzinfo=UTC),
        pinned_runtime_version_arn="",
        pinned_by="",
    )


names = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=64)
versions = st.integers(min_value=1, max_value=10**9).map(str)
qualifiers = st.one_of(st.just("$LATEST"), versions)


@given(name=names, qualifier=qualifiers)
def test_every_spelling_of_a_function_means_the_same_pin(name: str, qualifier: str) -> None:
    key = PinKey(f"arn:aws:lambda:eu-west-1:210987654321:function:{name}", qualifier)
    spellings = [
        parse_function_ref(key.id),
        parse_function_ref(f"{key.function_arn}:{qualifier}"),
        parse_function_ref(key.function_arn, qualifier),
        parse_function_ref(name, qualifier),
        parse_function_ref(f"{name}:{qualifier}"),
    ]
    pin = _pin(key.function_arn, qualifier)
    other = _pin(key.function_arn, "$LATEST" if qualifier != "$LATEST" else "1")
    for ref in spellings:
        assert ref.qualifier == qualifier
        assert ref.matches(pin)
        assert not ref.matches(other)
    assert spellings[0].key == key


@pytest.mark.parametrize("spelling", ["LATEST", "latest", "$LATEST"])
def test_latest_needs_no_shell_quoting(spelling: str) -> None:
    assert parse_function_ref("orders", spelling).qualifier == "$LATEST"


def test_a_name_in_two_regions_is_ambiguous_and_the_error_names_both() -> None:
    west = _pin(ARN.replace("us-east-1", "eu-west-1"))
    east = _pin()
    with pytest.raises(UsageError, match="matches 2 pins") as error:
        choose_pin(parse_function_ref("orders"), [east, west])
    assert east.key.id in str(error.value) and west.key.id in str(error.value)
    assert "pass the function ARN" in str(error.value)
    assert choose_pin(parse_function_ref(ARN), [east, west]) is east


def test_two_pinned_versions_ask_for_a_qualifier_unless_only_one_is_open() -> None:
    latest, three = _pin(), _pin(qualifier="3")
    with pytest.raises(UsageError, match="pass --qualifier"):
        choose_pin(parse_function_ref("orders"), [latest, three])
    closed = _pin(qualifier="3", stage=Stage.RESOLVED)
    assert choose_pin(parse_function_ref("orders"), [latest, closed]) is latest
    assert choose_pin(parse_function_ref("orders", "3"), [latest, closed]) is closed


def test_no_matching_pin_is_a_failed_action_not_a_usage_error() -> None:
    with pytest.raises(ActionFailed, match="no pin matches 'billing'"):
        choose_pin(parse_function_ref("billing"), [_pin()])


# ------------------------------------------------------------------------ --until


@given(st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3650)))
def test_until_accepts_every_duration_rollforward_writes(delta: timedelta) -> None:
    text = format_duration(delta)
    assert check_until(text) == text


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
)
def test_until_accepts_iso_times_with_a_zone_and_plain_dates(moment: datetime) -> None:
    assert check_until(iso(moment)) == iso(moment)
    assert check_until(moment.date().isoformat()) == moment.date().isoformat()
    with pytest.raises(UsageError):
        check_until(moment.replace(tzinfo=None).isoformat())


# ------------------------------------------------------------------------ rendering


UNITS = "dhms"
NEXT_SMALLER_UNIT = {
    "d": timedelta(hours=1),
    "h": timedelta(minutes=1),
    "m": timedelta(seconds=1),
    "s": timedelta(seconds=1),
}


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5000)))
def test_age_shows_the_top_unit_and_the_next_and_never_rounds_up(age: timedelta) -> None:
    parts = format_age(age).split()
    shown = parse_duration("".join(parts))

    assert 1 <= len(parts) <= 2
    if len(parts) == 2:
        assert UNITS.index(parts[1][-1]) == UNITS.index(parts[0][-1]) + 1
    assert shown <= age
    assert age - shown < NEXT_SMALLER_UNIT[parts[0][-1]]


def test_age_examples() -> None:
    assert format_age(timedelta(days=16, hours=3, minutes=59)) == "16d 3h"
    assert format_age(timedelta(days=14, seconds=1)) == "14d"
    assert format_age(timedelta(hours=5, minutes=12, seconds=9)) == "5h 12m"
    assert format_age(timedelta(seconds=-3)) == "0s"


def test_table_columns_line_up_and_blank_cells_show_a_dash() -> None:
    text = format_table(
        ("FUNCTION", "AGE", "OWNER"), [["orders", "16d 3h", ""], ["a", "1s", "bob"]]
    )
    lines = text.splitlines()
    assert [line.index(h) for line, h in zip(lines, ["AGE", "16d", "1s"], strict=True)] == [10] * 3
    assert lines[1].endswith("-")


def test_scan_asks_for_a_full_pass_or_a_screening_cycle_only_when_told() -> None:
    from rollforward_cli.commands.scan import scan_request
    from rollforward_cli.main import build_parser

    parser = build_parser()
    assert scan_request(parser.parse_args(["scan"])) == {"dry_run": False}
    assert scan_request(parser.parse_args(["scan", "--full"]))["full"] is True
    assert scan_request(parser.parse_args(["scan", "--screen", "--dry-run"])) == {
        "dry_run": True,
        "full": False,
    }
    code, _, err = run("scan", "--full", "--screen")
    assert code == 2 and "not allowed with argument --full" in err
