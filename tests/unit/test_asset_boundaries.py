"""The Lambda asset (lambdas/) ships to AWS: it must not depend on the emulator, the CLI,
the CDK app or test code, and only the handlers' wiring may construct AWS clients."""

from __future__ import annotations

import ast
from pathlib import Path

ASSET = Path(__file__).resolve().parents[2] / "lambdas"
FORBIDDEN = ("emulator", "rollforward_cli", "infra", "workflows", "tests", "moto", "aws_cdk")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_deployed_code_never_imports_the_emulator_cli_infra_or_tests():
    offenders = {
        f"{path.relative_to(ASSET)}: {name}"
        for path in ASSET.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    }
    assert not offenders, offenders


def test_only_the_wiring_constructs_boto3_clients():
    constructing = {
        str(path.relative_to(ASSET))
        for path in ASSET.rglob("*.py")
        if "boto3.client(" in path.read_text() or "boto3.resource(" in path.read_text()
    }
    assert constructing == {"rollforward/handlers/wiring.py"}
