"""The `rollforward` command."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("rollforward: not built yet", file=sys.stderr)
    return 2
