"""Shared by every tier: the toolchain's PATH. Nothing here imports an AWS library: the tiers
that need the embedded AWS import its fixtures from `tests.aws_fixtures` in their conftest."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import settings

from tests import ast_guard

# Threads of the embedded AWS parse too (tracebacks): CPython 3.11.7 must not see two at once.
ast_guard.install()

# No per-example deadline: on a loaded 2-core machine (or under xdist) a slow example is not a
# bug, and DeadlineExceeded would fail a property that holds. HYPOTHESIS_PROFILE picks another.
settings.register_profile("rollforward", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "rollforward"))

# CDK synthesis (jsii) runs `node` from PATH: use the supported Node pinned in package.json.
_NODE_BIN = Path(__file__).resolve().parent.parent / "node_modules" / ".bin"
if _NODE_BIN.is_dir():
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
