"""The `rollforward` sub-commands, one module per group.

Each module has `register(subparsers, parents)` that adds its parsers and sets
`handler=<function(args, context) -> int>` on them; `rollforward_cli.main` dispatches.
"""
