"""The console's posture page in a real headless Chromium: every function in its row of the
shared-responsibility table, unmet first, the template that re-pins said in words.

Same set-up as test_console_browser.py: the embedded AWS in this process, the console on a free
loopback port in a thread. The console's identity is an auditor holding only read rights
(`AUDITOR_POLICY`: what `rollforward report` and this page need).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from rollforward_cli.aws import Target

from emulator import posture_fleet
from tests.e2e.harness import REGION, Lifecycle, Principal, code_zip, wait_for
from tests.e2e.test_console_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    _console,
    _require_browser,
)

pytestmark = pytest.mark.browser

AUDITOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "lambda:ListFunctions",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:GetRuntimeManagementConfig",
                "lambda:ListAliases",
                "ecr:DescribeImages",
                "cloudformation:GetTemplate",
                "dynamodb:Scan",
                "ssm:GetParameter",
                "ssm:GetParametersByPath",
                "sts:GetCallerIdentity",
            ],
            "Resource": "*",
        }
    ],
}


def test_the_posture_page_shows_every_row(lifecycle: Lifecycle, tmp_path: Path) -> None:
    sync_playwright = _require_browser()
    lam = lifecycle.lam
    lifecycle.create_function("orders")
    posture_fleet.create_function_update_function(lam, lifecycle.role, code_zip())
    lifecycle.aws.state.clock.advance(timedelta(days=31))
    oldest = lifecycle.aws.state.catalog.versions("python3.12", REGION, "x86_64")[0].arn
    lifecycle.aws.state.catalog.release("python3.12", REGION)
    lam.update_function_configuration(FunctionName="orders", Description="deployed")
    posture_fleet.create_image_function(
        lam, lifecycle.role, account_id="123456789012", region=REGION
    )
    posture_fleet.create_pinning_stack(
        boto3.client("cloudformation"), boto3.client("iam"), lifecycle.role, oldest
    )
    wait_for(lambda: lifecycle.pin_record(posture_fleet.STACK_FUNCTION), what="the stack's pin")
    auditor = Principal("auditor-erin", policy=AUDITOR_POLICY)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with _console(Target(auditor.session, None)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 900},
        )
        problems: list[str] = []
        browser.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page = browser.new_page()
        page.set_default_timeout(120_000)  # the page reads every function: slow on a busy machine
        page.goto(f"{url}/posture")
        assert page.get_by_role("link", name="Posture").get_attribute("href") == "/posture"

        rows = page.locator("table.posture tbody tr")
        by_function = {row.get_attribute("data-function"): row.inner_text() for row in rows.all()}
        assert "function update" in by_function["ledger-sync"]
        assert "unmet" in by_function["ledger-sync"]
        assert (
            "container image" in by_function["reports"] and "120 days old" in by_function["reports"]
        )
        assert "rebuild" in by_function["reports"]
        assert "manual" in by_function["billing"]
        assert "billing-stack pins this function to Manual" in by_function["billing"]
        assert "met" in by_function["orders"]
        # Unmet first: the first rows are the three unmet versions.
        first = [rows.nth(i).get_attribute("class") for i in range(3)]
        assert first == ["status-unmet"] * 3
        summary = page.locator("section.posture-rows").inner_text()
        assert "Container image" in summary and "Function update" in summary
        page.screenshot(path=str(SCREENSHOTS / "console-posture.png"), full_page=True)
        assert problems == []
        browser.close()
