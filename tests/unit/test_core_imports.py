"""The core decides; it imports no AWS library. Everything in `lambdas/rollforward` except
`adapters/` (the AWS side of the ports) and `handlers/` (parse, wire, delegate) is core.

Powertools counts as an AWS library here: importing it imports botocore. A core module may not
import the adapters either (the dependency points from the adapters to the core, never back).

`NOT_YET_CONVERTED` lists the core modules that still do, with why. It may only shrink: the test
fails when a module not listed imports one of these, and when a listed module no longer does
(then delete its entry).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lambdas" / "rollforward"
OUTSIDE_CORE = ("adapters", "handlers")
FORBIDDEN = ("boto3", "botocore", "moto", "emulator", "aws_lambda_powertools")
FORBIDDEN_INSIDE = ("rollforward.adapters", "rollforward.handlers")

_MODULE_NAME = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+")

# Module under `rollforward` (an entry covers its submodules: "scan" is scan/*) -> why it is still
# here. Only ever remove lines.
NOT_YET_CONVERTED: dict[str, str] = {}  # empty: every core module is on the ports; keep it so


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (a lazy import inside a function counts)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in {"import_module", "__import__"}
        ):
            names.update(
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            )
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _MODULE_NAME.fullmatch(node.value)
        ):
            names.add(node.value)  # a module named in data, for a lazy import by variable
    return names


def _forbidden(name: str) -> bool:
    return name.split(".")[0] in FORBIDDEN or any(
        name == inside or name.startswith(inside + ".") for inside in FORBIDDEN_INSIDE
    )


def _core_modules() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in OUTSIDE_CORE
    ]


def offenders() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in _core_modules():
        bad = {name for name in _imports(path) if _forbidden(name)}
        if bad:
            found[_module_name(path)] = bad
    return found


def _module_name(path: Path) -> str:
    """`scan/listing.py` -> `scan.listing`; `canary/__init__.py` -> `canary`."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _entry_of(module: str) -> str | None:
    return next((e for e in NOT_YET_CONVERTED if module == e or module.startswith(e + ".")), None)


def test_the_core_imports_no_aws_library_outside_the_shrinking_allow_list() -> None:
    found = offenders()
    new = {module: names for module, names in found.items() if _entry_of(module) is None}
    assert not new, f"core modules importing AWS libraries or adapters (use a port): {new}"
    stale = sorted(set(NOT_YET_CONVERTED) - {_entry_of(module) for module in found})
    assert not stale, f"converted, so delete from NOT_YET_CONVERTED: {stale}"


def test_the_check_sees_imports_at_any_depth(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import json\n"
        "def f():\n"
        "    from botocore.exceptions import ClientError\n"
        "    import importlib\n"
        "    return importlib.import_module('rollforward.adapters.aws_errors')\n"
    )
    assert {name for name in _imports(module) if _forbidden(name)} == {
        "botocore.exceptions",
        "botocore.exceptions.ClientError",
        "rollforward.adapters.aws_errors",
    }


def test_the_core_is_the_package_without_adapters_and_handlers() -> None:
    core = {_module_name(path) for path in _core_modules()}
    assert {"canary.judge", "ports", "transient"} <= core
    assert not any(name.split(".")[0] in OUTSIDE_CORE for name in core)
