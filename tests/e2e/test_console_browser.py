"""The on-call console in a real headless Chromium, against a deployed rollforward (issue 5).

The embedded AWS runs in this process (moto intercepts Python's AWS calls only); the console
runs in a thread of this process on a free loopback port and answers Chromium over real HTTP.
On-call `oncall-alice` is the console's AWS identity: her decisions go through the decision
API, so the approvals table must name her ARN as the decider.

Needs /usr/bin/chromium: `.ci/install-browser` installs it (CI runs it before the tests).
This test fails, rather than skips, without it: a console nobody clicked through is untested.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from rollforward.canary.judge import Outcome
from rollforward.ledger import Stage
from rollforward_cli.aws import Target
from rollforward_cli.commands import pins
from rollforward_cli.commands.base import TargetContext
from rollforward_cli.console import make_app
from rollforward_cli.render import Output
from werkzeug.serving import make_server

from emulator.traffic import generate_traffic
from tests.e2e.harness import Lifecycle, Principal, code_zip, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BAKE = timedelta(minutes=10)
# Function names and reasons are other people's input: the console must show them as text.
HOSTILE_REASON = 'runtime fix verified <script>alert("x")</script> & <b>bold</b>'


def _require_browser() -> Any:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `.ci/install-browser` "
            "(apt-get install chromium) before the browser tests",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the playwright Python package is missing: `pip install -e '.[dev]'`", pytrace=False
        )
    return sync_playwright


# ------------------------------------------------------------------------ the fleet


def _aliased_function(lifecycle: Lifecycle, name: str, runtime: str) -> None:
    """Serves through alias `live` on version 1; pinned on $LATEST (the canary's kind)."""
    lifecycle.lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler="app.handler",
        Role=lifecycle.role,
        Code={"ZipFile": code_zip()},
        Tags={"rollforward:owner": "carol@example.com", "rollforward:team": "storefront"},
    )
    lifecycle.pin(name)
    version = lifecycle.lam.publish_version(FunctionName=name)["Version"]
    lifecycle.lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)


def _rps_for_a_verdict(lifecycle: Lifecycle, name: str) -> float:
    """Enough traffic for one bake to judge the candidate's share with no errors as a pass
    (~3,000 candidate invocations), and no more: an invocation costs real time here."""
    alias = lifecycle.lam.get_alias(FunctionName=name, Name="live")
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    share = float(next(iter(weights.values()), 1.0))
    return max(20.0, 3300 / (share * BAKE.total_seconds()))


def _canary(lifecycle: Lifecycle, alice: Principal, name: str, *, to_pass: bool) -> dict[str, Any]:
    """Approve `name` (as alice, through the API) and serve traffic bake by bake until its
    canary ends; returns the canary's ledger evidence. A broken runtime fails on little
    traffic; a good one, at 5 requests/s, PASSes the sequential judge in its second step (an
    error-free PASS needs ~663 candidate invocations, 150 a bake at 5%, 750 at 25%: so it
    takes more than one look)."""
    approval = lifecycle.pending_approval(name)
    status, body = lifecycle.decide(
        alice, action="approve", approval_id=approval["approval_id"], reason="canary it"
    )
    assert status == 200, body
    for _ in range(12):
        lifecycle.settle()
        evidence = lifecycle.pin_record(name).evidence
        if "last_canary" in evidence or "canary" in evidence:
            return dict(evidence.get("last_canary") or evidence["canary"])
        generate_traffic(name, "live", 5.0 if to_pass else 20.0, BAKE)
    raise AssertionError(f"the canary of {name} did not end")


def _fleet(lifecycle: Lifecycle, alice: Principal) -> None:
    """`orders` and `billing` awaiting approval; `checkout`'s canary of a broken runtime rolled
    back; `search`'s canary of a good one promoted (resolved: a closed pin); `cart`'s canary
    running, its first step judged, in its second step."""
    lifecycle.create_function("orders")
    lifecycle.pin("orders")
    lifecycle.create_function("billing", owner="bob@example.com", team="ledger")
    lifecycle.pin("billing")
    _aliased_function(lifecycle, "checkout", "python3.12")
    _aliased_function(lifecycle, "search", "python3.13")
    _aliased_function(lifecycle, "cart", "python3.13")
    lifecycle.aws.state.catalog.release("python3.12", "us-east-1", error_rate=0.05)
    lifecycle.aws.state.catalog.release("python3.13", "us-east-1")
    names = ("orders", "billing", "checkout", "search", "cart")
    wait_for(lambda: all(lifecycle.pin_record(n) for n in names), what="the ledger items")
    lifecycle.advance(14.2, settle=lambda: all(lifecycle.pending_approval(n) for n in names))
    rolled_back = _canary(lifecycle, alice, "checkout", to_pass=False)
    assert any(v["outcome"] == Outcome.FAIL for v in rolled_back["verdicts"])
    promoted = _canary(lifecycle, alice, "search", to_pass=True)
    looks = [v for v in promoted["verdicts"] if v["step"] != "post-promotion"]
    assert looks[-1]["outcome"] == "PASS" and looks[0]["outcome"] == "CONTINUE", looks
    assert lifecycle.pin_record("search").stage is Stage.RESOLVED
    _first_step_of_a_canary(lifecycle, alice, "cart")


def _first_step_of_a_canary(lifecycle: Lifecycle, alice: Principal, name: str) -> None:
    """Approve `name` and serve one bake at 3 requests/s: too little to decide (90 candidate
    invocations), so the first step ends undecided and the second one begins."""
    approval = lifecycle.pending_approval(name)
    assert approval is not None
    status, body = lifecycle.decide(
        alice, action="approve", approval_id=approval["approval_id"], reason="canary it"
    )
    assert status == 200, body
    lifecycle.settle()
    generate_traffic(name, "live", 3.0, BAKE)
    lifecycle.settle()
    alias = lifecycle.lam.get_alias(FunctionName=name, Name="live")
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    assert list(weights.values()) == [0.25], alias  # in the second step
    assert lifecycle.pin_record(name).stage is Stage.CANARY


def _show(target: Target, name: str, output: str) -> str:
    """`rollforward show NAME --output OUTPUT`, run in this process (which holds the AWS)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    context = TargetContext(target, Output(output, stdout, stderr))
    args = argparse.Namespace(function=name, qualifier=None)
    assert pins.run_show(args, context) == 0, stderr.getvalue()
    return stdout.getvalue()


def _check_show_tells_the_running_canary(target: Target) -> None:
    """Issue 11: while a canary runs, `show` says where it is (table and JSON)."""
    shown = json.loads(_show(target, "cart", "json"))
    running = shown["canary_running"]
    assert (running["step"], running["steps"], running["weight"]) == (2, 3, 0.25)
    assert running["time_in_step_seconds"] >= 0 and running["expected_end"]
    assert {v["outcome"] for v in running["verdicts"]} == {"CONTINUE"}  # looks, undecided
    assert running["verdicts"][-1]["candidate_invocations"] > 0
    sequential = running["sequential"]
    assert sequential["looks"] == len(running["verdicts"]) and sequential["to_pass"] > 0
    table = _show(target, "cart", "table")
    assert "running: step 2 of 3" in table and "25% of traffic on the candidate" in table
    assert "time in step" in table and "expected end" in table and "next look" in table
    assert "look(s)" in table and "(PASS at 200)" in table and "(FAIL at 100)" in table
    # The rolled-back canary is an attempt on record, with its reason.
    checkout = json.loads(_show(target, "checkout", "json"))
    assert checkout["attempts"]["count"] == 1 and checkout["canary_running"] is None
    attempt = checkout["attempts"]["kept"][0]
    assert attempt["outcome"] == "rolled_back" and attempt["reason"] and attempt["at"]
    assert checkout["target_runtime"].startswith("the newest")


@contextmanager
def _console(target: Target) -> Iterator[str]:
    """The console on a free loopback port, in a thread of this process."""
    server = make_server("127.0.0.1", 0, make_app(target), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="console", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ------------------------------------------------------------------------ the test


def _approval_item(lifecycle: Lifecycle, approval_id: str) -> dict[str, Any]:
    return lifecycle.approvals_table.get_item(Key={"approval_id": approval_id})["Item"]


def _csrf_session(url: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(f"{url}/", timeout=10)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "the fleet page has no CSRF field"
    return session, token.group(1)


def _check_the_server_refuses_what_a_browser_would_not_send(url: str, approval_id: str) -> None:
    """Plain HTTP from this process reaches the console (moto's mock passes 127.0.0.1
    through), and every refusal is the console's own: nothing reaches the decision API."""
    session, token = _csrf_session(url)
    fields = {"action": "approve", "approval_id": approval_id, "reason": "x", "confirm": "yes"}
    forged = session.post(f"{url}/decide", data=fields, timeout=10)
    assert forged.status_code == 403 and "CSRF" in forged.text
    cross_site = session.post(
        f"{url}/decide",
        data={**fields, "csrf_token": token},
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        timeout=10,
    )
    assert cross_site.status_code == 403
    blank = session.post(
        f"{url}/decide", data={**fields, "csrf_token": token, "reason": "  "}, timeout=10
    )
    assert blank.status_code == 400 and "reason is required" in blank.text
    assert requests.get(f"{url}/decide", timeout=10).status_code == 405
    rebound = requests.get(f"{url}/", headers={"Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 400


def test_on_call_decides_in_the_console(lifecycle: Lifecycle, tmp_path: Path) -> None:
    sync_playwright = _require_browser()  # before the slow part: fail fast without Chromium
    alice = Principal("oncall-alice")
    _fleet(lifecycle, alice)
    orders = lifecycle.pending_approval("orders")["approval_id"]
    billing = lifecycle.pending_approval("billing")["approval_id"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    _check_show_tells_the_running_canary(Target(alice.session, None))

    with _console(Target(alice.session, None)) as url, sync_playwright() as playwright:
        _check_the_server_refuses_what_a_browser_would_not_send(url, orders)
        assert _approval_item(lifecycle, orders)["status"] == "pending"

        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 900},
        )
        problems: list[str] = []
        dialogs: list[str] = []
        # Script errors, CSP violations, failed assets; the refusal page's own 409 is expected.
        browser.on(
            "console",
            lambda m: (
                m.type == "error" and "status of 409" not in m.text and problems.append(m.text)
            ),
        )
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{url}/")

        # The fleet: every open pin by age, counts per stage, the pending approvals.
        fleet = page.locator("table.fleet tbody tr")
        names = fleet.locator("td:first-child").all_inner_texts()
        assert sorted(names) == ["billing", "cart", "checkout", "orders"]
        counts = page.locator("section.counts").inner_text()
        assert "4\nopen" in counts and "2\nawaiting approval" in counts
        assert "1\ncanary" in counts
        assert page.locator("li.approval").count() == 2
        # Issue 11: each pin's canary attempts and how the last one ended (or that one runs).
        outcomes = {
            row.locator("td:first-child").inner_text(): (
                row.locator("td.attempts").inner_text(),
                row.locator("td.last-outcome").inner_text(),
            )
            for row in fleet.all()
        }
        assert outcomes["checkout"] == ("1", "rolled back")
        assert outcomes["cart"] == ("0", "running") and outcomes["orders"] == ("0", "")
        # Issue 9: the first request is round 1; the runtime an approval moves it to.
        request = page.locator(f'li.approval[data-approval-id="{orders}"]')
        assert request.locator("span.round").inner_text() == "round 1"
        assert "Target runtime: the newest" in request.locator("div.target").inner_text()
        assert "Earlier canary attempts: none" in request.locator("div.attempts").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "console-fleet.png"), full_page=True)

        # A second tab keeps the fleet page as it was before the approval below.
        stale = browser.new_page()
        stale.goto(f"{url}/")

        # Approve orders: reason, Approve…, the confirmation restates it, Yes.
        item = page.locator(f'li.approval[data-approval-id="{orders}"]')
        item.locator("textarea[name=reason]").fill(HOSTILE_REASON)
        item.get_by_role("button", name="Approve…").click()
        assert page.locator("h1").inner_text().startswith("Approve orders")
        assert page.locator("dd.reason").inner_text() == HOSTILE_REASON  # shown as text
        assert page.locator("dd.decision-approve").inner_text() == "approve"
        assert _approval_item(lifecycle, orders)["status"] == "pending"  # not before Yes
        page.get_by_role("button", name="Yes, approve orders").click()
        assert page.locator("h1").inner_text().startswith("Approved: orders")
        assert alice.arn in page.locator("dl.fields").inner_text()
        approved = _approval_item(lifecycle, orders)
        assert approved["status"] == "approved" and approved["decided_by"] == alice.arn
        assert approved["reason"] == HOSTILE_REASON
        pin = wait_for(
            lambda: (p := lifecycle.pin_record("orders")).evidence.get("approval") and p,
            what="the approval in the ledger",
        )
        assert pin.evidence["approval"]["approver"] == alice.arn

        # Reject billing the same way: the pin is snoozed, by alice.
        page.goto(f"{url}/")
        item = page.locator(f'li.approval[data-approval-id="{billing}"]')
        item.locator("textarea[name=reason]").fill("peak season: after the freeze")
        item.get_by_role("button", name="Reject…").click()
        assert page.locator("h1").inner_text().startswith("Reject billing")
        page.get_by_role("button", name="Yes, reject billing").click()
        assert page.locator("h1").inner_text().startswith("Rejected: billing")
        rejected = _approval_item(lifecycle, billing)
        assert rejected["status"] == "rejected" and rejected["decided_by"] == alice.arn
        snoozed = wait_for(
            lambda: (p := lifecycle.pin_record("billing")).snooze and p, what="the snooze"
        )
        assert snoozed.stage is Stage.SNOOZED and snoozed.snooze.by == alice.arn

        # The stale tab approves orders again: the API refuses, and the page says why.
        item = stale.locator(f'li.approval[data-approval-id="{orders}"]')
        item.locator("textarea[name=reason]").fill("me too")
        item.get_by_role("button", name="Approve…").click()
        assert "This approval is approved" in stale.locator("p.warning").inner_text()
        stale.get_by_role("button", name="Yes, approve orders").click()
        assert stale.locator("h1").inner_text().startswith("Refused (409)")
        assert "single-use" in stale.locator("p.refusal").inner_text()

        # The rolled-back canary: the failing step, why, and the timeline.
        page.goto(f"{url}/")
        page.get_by_role("link", name="checkout").first.click()
        canary = page.locator("section.canary").first
        assert canary.locator("h2").inner_text() == "Last canary (rolled back)"
        steps = canary.locator("table.verdicts tbody tr")
        assert "fail" in canary.locator("table.verdicts").inner_text()
        assert canary.locator("svg.chart circle.dot.candidate").count() == steps.count() >= 1
        assert "candidate error rate" in canary.inner_text()  # why it was rolled back
        main_view = canary.locator("dl.fields").inner_text()
        assert "Traceback" not in main_view and ".py" not in main_view and "{" not in main_view
        assert canary.locator("details.evidence pre").count() == 1  # behind a disclosure
        assert not canary.locator("details.evidence pre").is_visible()
        timeline = page.locator("table.timeline").inner_text()
        assert "canary step" in timeline and "rolled back" in timeline
        canary.screenshot(path=str(SCREENSHOTS / "console-canary-rolled-back.png"))

        # Snooze checkout from its page: the same confirm step, through the same API.
        hold = page.locator("form.hold")
        hold.locator("input[name=until]").fill("2d")
        hold.locator("textarea[name=reason]").fill("owner is fixing the handler first")
        hold.get_by_role("button", name="Snooze…").click()
        page.get_by_role("button", name="Yes, snooze checkout").click()
        assert page.locator("h1").inner_text().startswith("Snoozed: checkout")
        held = wait_for(lambda: (p := lifecycle.pin_record("checkout")).snooze and p)
        assert held.snooze.by == alice.arn

        # The running canary: its step, weight, time in step, evidence so far, expected end.
        page.goto(f"{url}/")
        page.get_by_role("link", name="cart").first.click()
        running = page.locator("section.running")
        assert running.locator("h2").inner_text() == "Canary running now"
        text = running.inner_text()
        assert "running: step 2 of 3" in text and "25% of traffic on the candidate" in text
        assert "Time in step" in text and "Expected end" in text and "Next look" in text
        assert "look(s)" in text and "(PASS at 200)" in text and "Plan ends" in text
        assert page.locator("section.canary h2").first.inner_text() == "Canary (running)"
        running_canary = page.locator("section.canary").first
        looked = running_canary.locator("table.verdicts tbody tr td:first-child").all_inner_texts()
        assert looked and all(label.startswith("look ") for label in looked), looked
        assert running_canary.locator("svg.chart circle.dot.candidate").count() == len(looked)
        assert running_canary.locator("td.evidence").first.inner_text()  # e-values per look
        page.screenshot(path=str(SCREENSHOTS / "console-canary-running.png"), full_page=True)

        # The promoted canary: looks from 5% up until the PASS, then 100% (verified).
        page.goto(f"{url}/?all=1")
        assert page.locator("table.fleet tbody tr").count() == 5
        page.get_by_role("link", name="search").first.click()
        canary = page.locator("section.canary").first
        assert canary.locator("h2").inner_text() == "Canary"
        weights = canary.locator("table.verdicts tbody tr td:nth-child(3)").all_inner_texts()
        assert weights[0] == "5%" and weights[-1] == "100%" and len(set(weights)) >= 3
        chart = canary.locator("svg.chart")
        assert chart.locator("circle.dot.candidate").count() == len(weights)
        assert chart.locator("circle.dot.baseline").count() == len(weights)
        assert chart.locator("text.outcome-pass").count() == 2  # the PASS look and the verify
        assert "promoted" in page.locator("table.timeline").inner_text()
        canary.screenshot(path=str(SCREENSHOTS / "console-canary.png"))
        page.screenshot(path=str(SCREENSHOTS / "console-function.png"), full_page=True)

        assert dialogs == [], f"script ran in the page: {dialogs}"
        assert problems == [], f"the browser reported errors: {problems}"
        browser.close()
