"""A policy document's problems, each as `path: what is wrong`, for the person who wrote it."""

from __future__ import annotations

import difflib
import json
from typing import Any, get_args

from pydantic import BaseModel, ValidationError


class PolicyError(ValueError):
    """The policy document is invalid. `problems` lists each one as `path: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        if len(problems) == 1:
            message = f"invalid rollforward policy: {problems[0]}"
        else:
            message = "invalid rollforward policy:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(message)


def _describe(error: ValidationError, root: type[BaseModel]) -> list[str]:
    problems: list[str] = []
    errors = error.errors(include_url=False)
    failed = [item["loc"] for item in errors]
    for item in errors:
        loc = item["loc"]
        if item["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in failed
        ):
            continue  # "at least 1 item" only because its items failed: noise
        if item["type"] == "policy_semantics":
            problems.extend(item.get("ctx", {}).get("problems", []))
            continue
        path = _path(loc)
        if item["type"] == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(root, loc[:-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else f" (allowed: {', '.join(allowed)})"
            problems.append(f"{path}: unknown key{hint}")
        elif item["type"] == "json_invalid":
            problems.append(f"(document): not valid JSON: {item.get('ctx', {}).get('error', '')}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] not in ("value_error", "missing") and "input" in item:
                message += f", got {_short(item['input'])}"
            problems.append(f"{path}: {message}")
    return problems


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _allowed_keys(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model at `loc`, to suggest the intended key for a typo."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue  # an index into a tuple of models: the model stays the same
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = field.annotation
        while get_args(model):  # tuple[Rung, ...] -> Rung
            model = get_args(model)[0]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _short(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
