"""The daily Posture function's gauges, as Lambda would ship them to CloudWatch: one EMF
document per row of the shared-responsibility table and metric, and the dashboard's posture
widgets search exactly the namespace and dimensions those documents carry (a SEARCH schema
that names a dimension the documents lack, or misses one they have, plots nothing)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from rollforward.posture import Row
from rollforward.posture.metrics import DIMENSION, METRICS, NAMESPACE

from emulator import posture_fleet
from emulator.stack import synthesize
from tests.e2e.conftest import TEST_POLICY
from tests.e2e.harness import Lifecycle, wait_for

SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\} MetricName=\"(?P<name>\w+)\"")


def _emf(out: str) -> list[dict[str, Any]]:
    documents = []
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    return documents


def _flat(value: Any) -> str:
    """The dashboard body's Fn::Join, every token a placeholder (only the searches matter)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_flat(part) for part in parts)
    return "<token>"


def _dashboard_searches() -> dict[str, set[tuple[str, frozenset[str]]]]:
    """Metric name -> the (namespace, dimensions) the dashboard's SEARCH expressions ask for."""
    template = synthesize({"policy": TEST_POLICY})
    [body] = [
        json.loads(_flat(resource["Properties"]["DashboardBody"]))
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    searches: dict[str, set[tuple[str, frozenset[str]]]] = {}
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if not isinstance(metric[0], dict):
                continue
            for match in SEARCH.finditer(metric[0].get("expression", "")):
                namespace, *dimensions = match["schema"].split(",")
                searches.setdefault(match["name"], set()).add((namespace, frozenset(dimensions)))
    return searches


def test_the_posture_function_emits_a_gauge_per_row_that_the_dashboard_plots(
    lifecycle: Lifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    posture_fleet.create_image_function(
        lifecycle.lam, lifecycle.role, account_id="123456789012", region="us-east-1"
    )
    lifecycle.create_function("orders")
    function = lifecycle.deployment.find("AWS::Lambda::Function", "Posture")
    capsys.readouterr()

    answer = lifecycle.lam.invoke(FunctionName=function, Payload=b'{"dry_run": true}')

    assert "FunctionError" not in answer, answer["Payload"].read()
    documents = [d for d in _emf(capsys.readouterr().out) if d.get(DIMENSION)]
    gauges: dict[tuple[str, str], float] = {}
    shapes = set()
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        for dimensions in directive["Dimensions"]:
            shapes.add((directive["Namespace"], frozenset(dimensions)))
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            gauges[(metric["Name"], document[DIMENSION])] = float(
                value[0] if isinstance(value, list) else value
            )
    # Every row, every metric: a row with nothing in it reports zeros (a gauge must not vanish).
    assert set(gauges) == {(name, row.value) for name in METRICS for row in Row}
    assert gauges[("PostureUnmet", "container_image")] == 1
    assert gauges[("PostureFunctions", "container_image")] == 1
    assert gauges[("PostureOldestUnmetSeconds", "container_image")] == pytest.approx(
        (posture_fleet.IMAGE_AGE - timedelta(days=90)).total_seconds(), abs=120
    )
    assert gauges[("PostureFunctions", "manual")] == gauges[("PostureUnmet", "manual")] == 0
    assert gauges[("PostureFunctions", "auto")] >= 1  # orders, and rollforward's own functions
    [shape] = shapes
    assert shape[0] == NAMESPACE and DIMENSION in shape[1]

    searches = _dashboard_searches()
    plotted = {name for name in searches if name.startswith("Posture")}
    assert {"PostureUnmet", "PostureFunctions", "PostureOldestUnmetSeconds"} <= plotted
    assert plotted <= set(METRICS)
    for name in plotted:
        assert searches[name] == {shape}, (name, searches[name], shape)


def _gauges(documents: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    gauges = {}
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            gauges[(metric["Name"], document[DIMENSION])] = float(
                value[0] if isinstance(value, list) else value
            )
    return gauges


def test_a_pass_too_big_for_one_invocation_continues_in_the_next_and_counts_everything(
    lifecycle: Lifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Posture function out of time before its second ListFunctions page invokes itself
    (asynchronously, on its own ARN: IAM enforced) with the marker and the counts so far; the
    chunk that ends the pass tells the image's owner (on the second page) and emits gauges
    over every function of both pages, once."""
    for index in range(48):  # with rollforward's own functions: more than one page of 50
        lifecycle.create_function(f"fleet-{index:02d}")
    posture_fleet.create_image_function(
        lifecycle.lam, lifecycle.role, account_id="123456789012", region="us-east-1"
    )
    listed = [
        f["FunctionName"]
        for page in lifecycle.lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    ]
    first_page = lifecycle.lam.list_functions()["Functions"]
    assert len(first_page) == 50 and posture_fleet.IMAGE not in {
        f["FunctionName"] for f in first_page
    }
    function = lifecycle.deployment.find("AWS::Lambda::Function", "Posture")
    # 121 s of timeout: after the 120 s safety margin, 1 s to read in — the first page (50
    # functions at 3 req/s) takes longer, so each chunk reads exactly one page.
    lifecycle.lam.update_function_configuration(FunctionName=function, Timeout=121)
    capsys.readouterr()

    answer = lifecycle.lam.invoke(FunctionName=function, Payload=b"{}")

    assert "FunctionError" not in answer, answer["Payload"].read()
    first = json.loads(answer["Payload"].read())
    assert first["continued"] is True and first["chunk"] == 1, first
    [notice] = wait_for(
        lambda: [n for n in lifecycle.notices("owner") if n["kind"] == "image_outdated"],
        timeout=300,
        what="the second chunk's image notice",
    )
    assert posture_fleet.IMAGE in notice["subject"]
    documents = wait_for(
        lambda: [d for d in _emf(capsys.readouterr().out) if d.get(DIMENSION)] or None,
        timeout=60,
        what="the pass's gauges",
    )
    gauges = _gauges(documents)
    assert len(documents) == len(METRICS) * len(Row)  # once per pass, not per chunk
    assert sum(gauges[("PostureFunctions", row.value)] for row in Row) == len(listed)
    assert gauges[("PostureUnmet", "container_image")] == 1
