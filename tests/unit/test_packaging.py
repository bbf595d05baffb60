"""Every third-party module the project imports is declared in pyproject.toml.

Packages that merely arrive through another one's dependencies (jinja2 and werkzeug through
moto) vanish when that one changes its own: declaring them pins what the code relies on.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("lambdas", "cli", "emulator", "infra", "workflows", "bench", "tests")
FIRST_PARTY = {"rollforward", "rollforward_cli", "emulator", "infra", "workflows", "bench", "tests"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    return {_normalize(re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0]) for line in requirements}


def _imported_top_level_modules() -> dict[str, str]:
    """Top-level module → one file that imports it (absolute imports only)."""
    found: dict[str, str] = {}
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_declared() -> None:
    declared = _declared()
    distributions = importlib.metadata.packages_distributions()
    undeclared = []
    for module, where in sorted(_imported_top_level_modules().items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY:
            continue
        providers = {_normalize(d) for d in distributions.get(module, [])}
        if not providers & declared:
            undeclared.append(f"{module} (imported in {where}; provided by {sorted(providers)})")
    assert not undeclared, "imported but not declared in pyproject.toml: " + "; ".join(undeclared)


def test_the_walk_sees_the_imports_it_must_judge() -> None:
    """Guards the test above against walking nothing: known direct imports are found."""
    modules = _imported_top_level_modules()
    assert {"boto3", "jinja2", "werkzeug", "aws_cdk"} <= modules.keys()
