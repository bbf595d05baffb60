"""Walk a synthesized state machine against the workflow contract (`rollforward.contract`).

For every state and every transition into it, the JSON schema of what the preceding state
outputs is known: a Lambda task's output is its handler's reply model for the task's action
(`TASK_OUTPUTS`), a `.waitForTaskToken` task adds the callback's answer at its ResultPath
(`CALLBACK_RESULTS`), a Catch adds the caught error at its ResultPath (`CATCH_RESULT`), and
Choice, Wait and Pass hand their input on (a Pass's `Result` put at its ResultPath). Then every path a state reads must
be declared in each schema that can reach it:

- Choice: each rule's `Variable` (a path tested with `IsPresent` in the same Choice may be
  missing: that is the guard); a value compared with `StringEquals` against a field whose
  schema is an enum must be one of its values;
- Wait: `TimestampPath`, `SecondsPath`;
- Task: `Parameters` values under keys ending in `.$` (context paths `$$.` aside),
  `TimeoutSecondsPath`, `HeartbeatSecondsPath`;
- ResultPath: its parent must be an object in the input.

`check(definition, handlers, contract)` returns the violations as sentences (empty: the machine
and the contract agree). `contract` is the module (or a copy of it: the test that proves this
bites renames a field in a copy).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

Schema = dict[str, Any]
CONTEXT_PREFIX = "$$."


def definition_and_handlers(
    template: Mapping[str, Any], machine: str = "Remediation"
) -> tuple[dict[str, Any], dict[str, str]]:
    """The definition of the state machine whose logical id starts with `machine`, and
    FunctionName placeholder -> handler name.

    Fn::GetAtt parts of the DefinitionString become `fn:<logical id>`; the logical id's
    function resource names its handler (`rollforward.handlers.tracking.handler`: `tracking`,
    as `contract.TASK_OUTPUTS` keys it)."""
    resources = template["Resources"]
    (found,) = (
        r
        for logical, r in resources.items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and logical.startswith(machine)
    )
    parts = found["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else _placeholder(p) for p in parts)
    handlers = {
        f"fn:{logical}": str(resource["Properties"]["Handler"]).split(".")[-2]
        for logical, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource["Properties"]
    }
    return json.loads(text), handlers


def _placeholder(part: Mapping[str, Any]) -> str:
    if "Fn::GetAtt" in part:
        return f"fn:{part['Fn::GetAtt'][0]}"
    if "Ref" in part:
        return f"ref:{part['Ref']}"
    return "unknown"


@dataclass(frozen=True)
class Shape:
    """A schema with a name saying where it came from (for the messages)."""

    origin: str
    schema: Schema

    @property
    def key(self) -> str:
        return json.dumps(self.schema, sort_keys=True)


class Checker:
    def __init__(
        self,
        definition: Mapping[str, Any],
        handlers: Mapping[str, str],
        contract: ModuleType,
        initial: Any = None,
    ) -> None:
        self.states: dict[str, Any] = dict(definition["States"])
        self.start: str = definition["StartAt"]
        self.handlers = handlers
        self.contract = contract
        self.violations: list[str] = []
        # What the walk starts with: the execution's input, or a Map child's item.
        self.initial = initial if initial is not None else contract.EXECUTION_INPUT

    # ------------------------------------------------------------------ schemas
    def model_shape(self, model: Any, origin: str) -> Shape:
        return Shape(origin, _inline(model.model_json_schema(mode="serialization")))

    def task_output(self, name: str, state: Mapping[str, Any], given: Shape) -> Shape | None:
        """What a Task outputs on success (None: the contract does not know this task)."""
        function = _function_of(state)
        module = self.handlers.get(function or "")
        if state.get("Resource", "").endswith(".waitForTaskToken"):
            callback = self.contract.CALLBACK_RESULTS.get(module)
            if callback is None:
                self.violations.append(f"{name}: no callback result model for {module}")
                return None
            result = self.model_shape(callback, f"{name}'s callback answer")
            return _put(given, state.get("ResultPath", "$"), result, f"{name} output")
        action = (state.get("Parameters", {}).get("Payload") or {}).get("action")
        model = self.contract.TASK_OUTPUTS.get(module, {}).get(action)
        if model is None:
            self.violations.append(
                f"{name}: the contract has no reply model for {module} action {action!r}"
            )
            return None
        if state.get("OutputPath") != "$.Payload" or "ResultSelector" in state:
            self.violations.append(f"{name}: output is not the handler's reply ($.Payload)")
        return self.model_shape(model, f"{name} ({module} {action}) reply")

    # ------------------------------------------------------------------ the walk
    def run(self) -> list[str]:
        initial = self.model_shape(self.initial, "the execution input")
        seen: set[tuple[str, str]] = set()
        pending: list[tuple[str, Shape]] = [(self.start, initial)]
        while pending:
            name, shape = pending.pop()
            if (name, shape.key) in seen:
                continue
            seen.add((name, shape.key))
            state = self.states[name]
            self.check_reads(name, state, shape)
            for target, output in self.transitions(name, state, shape):
                pending.append((target, output))
        unreached = set(self.states) - {name for name, _ in seen}
        if unreached:
            self.violations.append(f"states never reached in the walk: {sorted(unreached)}")
        return sorted(set(self.violations))

    def transitions(
        self, name: str, state: Mapping[str, Any], given: Shape
    ) -> Iterator[tuple[str, Shape]]:
        kind = state["Type"]
        if kind == "Choice":
            for rule in state.get("Choices", []):
                yield rule["Next"], given
            if "Default" in state:
                yield state["Default"], given
            return
        for catch in state.get("Catch", []):
            caught = self.model_shape(self.contract.CATCH_RESULT, f"{name}'s caught error")
            yield catch["Next"], _put(given, catch.get("ResultPath", "$"), caught, given.origin)
        if kind in {"Succeed", "Fail"} or state.get("End"):
            return
        if kind == "Task":
            output = self.task_output(name, state, given)
            if output is not None:
                yield state["Next"], output
        elif kind == "Pass" and "Result" in state:
            result = Shape(f"{name}'s Result", _literal_schema(state["Result"]))
            yield state["Next"], _put(given, state.get("ResultPath", "$"), result, given.origin)
        elif kind in {"Wait", "Pass"}:
            yield state["Next"], given
        elif kind == "Map":
            output = self.map_output(name, state, given)
            if output is not None:
                yield state["Next"], output
        else:
            self.violations.append(f"{name}: state type {kind} is not modelled by the contract")

    def map_output(self, name: str, state: Mapping[str, Any], given: Shape) -> Shape | None:
        """A Map: its children walked as a machine of their own (from the item the contract
        names, `MAP_ITEMS`), its output each child's result (`MAP_RESULTS`) in a list."""
        items = getattr(self.contract, "MAP_ITEMS", {}).get(name)
        results = getattr(self.contract, "MAP_RESULTS", {}).get(name)
        if items is None or results is None:
            self.violations.append(f"{name}: the contract names no item or result for this Map")
            return None
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        child = Checker(processor, self.handlers, self.contract, initial=items)
        self.violations.extend(f"{name} child: {v}" for v in child.run())
        selected = self.model_shape(items, f"{name}'s item").schema
        for key in state.get("ItemSelector", {}):
            field = key.removesuffix(".$")
            if field not in selected.get("properties", {}):
                self.violations.append(f"{name}'s ItemSelector sets {field}, not in its item")
        listed = Shape(f"{name}'s results", {"type": "array", "items": self.model_shape(
            results, f"{name}'s result").schema})  # fmt: skip
        return _put(given, state.get("ResultPath", "$"), listed, f"{name} output")

    # ------------------------------------------------------------------ reads
    def check_reads(self, name: str, state: Mapping[str, Any], given: Shape) -> None:
        kind = state["Type"]
        if kind == "Map":
            if "ItemsPath" in state:
                self.need(name, state["ItemsPath"], given)
            for read in _parameter_paths(state.get("ItemSelector", {})):
                self.need(name, read, given)
        if kind == "Choice":
            guarded: set[str] = set()
            for rule in _ordered_rules(state.get("Choices", []), guarded):
                variable = rule["Variable"]
                if variable not in guarded:
                    self.need(name, variable, given)
                if "StringEquals" in rule:
                    allowed = _enum_at(given.schema, variable)
                    if allowed is not None and rule["StringEquals"] not in allowed:
                        self.violations.append(
                            f"{name} compares {variable} with {rule['StringEquals']!r}, not one of "
                            f"{sorted(allowed)} in {given.origin}"
                        )
        if kind == "Wait":
            for key in ("TimestampPath", "SecondsPath"):
                if key in state:
                    self.need(name, state[key], given)
        if kind == "Task":
            for key in ("TimeoutSecondsPath", "HeartbeatSecondsPath"):
                if key in state:
                    self.need(name, state[key], given)
            for read in _parameter_paths(state.get("Parameters", {})):
                self.need(name, read, given)
        result_path = state.get("ResultPath")
        if isinstance(result_path, str) and result_path.count(".") > 1:
            parent = result_path.rsplit(".", 1)[0]
            self.need(name, parent, given)

    def need(self, name: str, read: str, given: Shape) -> None:
        if read == "$" or read.startswith(CONTEXT_PREFIX):
            return
        if not _declared(given.schema, read):
            self.violations.append(
                f"{name} reads {read}, which is not in the schema of {given.origin}"
            )


def check(
    definition: Mapping[str, Any], handlers: Mapping[str, str], contract: ModuleType
) -> list[str]:
    return Checker(definition, handlers, contract).run()


# ---------------------------------------------------------------------- JSON schema helpers
def _inline(schema: Schema) -> Schema:
    """The schema with every `$ref` replaced by its definition (the models are not recursive)."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


def _branches(schema: Schema) -> list[Schema]:
    """The alternatives of a schema (anyOf/oneOf), nulls left out."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [b for s in schema[key] for b in _branches(s) if b.get("type") != "null"]
    return [schema]


def _at(schema: Schema, read: str) -> list[Schema]:
    """Every schema a JSONPath `$.a.b` may select (empty: not declared)."""
    if not read.startswith("$."):
        return []
    current = [schema]
    for key in read[2:].split("."):
        current = [
            branch["properties"][key]
            for node in current
            for branch in _branches(node)
            if key in branch.get("properties", {})
        ]
    return current


def _declared(schema: Schema, read: str) -> bool:
    return bool(_at(schema, read))


def _enum_at(schema: Schema, read: str) -> set[str] | None:
    """The values an enum field may take (None: not an enum everywhere it is declared)."""
    values: set[str] = set()
    for node in _at(schema, read):
        for branch in _branches(node):
            if "enum" not in branch and "const" not in branch:
                return None
            values |= set(branch.get("enum", [branch.get("const")]))
    return values or None


def _literal_schema(value: Any) -> Schema:
    """The schema of a constant (a Pass state's Result): its objects' keys, each value const."""
    if isinstance(value, dict):
        return {
            "type": "object",
            "properties": {key: _literal_schema(item) for key, item in value.items()},
            "required": sorted(value),
        }
    return {"const": value}


def _put(given: Shape, result_path: str | None, value: Shape, origin: str) -> Shape:
    """`given` with `value` placed at `result_path` (ResultPath semantics; null discards the
    result: the state's output is its input)."""
    if result_path is None:
        return given
    if result_path == "$":
        return Shape(origin, value.schema)
    keys = result_path[2:].split(".")

    def place(node: Schema, rest: list[str]) -> Schema:
        branches = _branches(node) or [{}]
        placed = []
        for branch in branches:
            properties = dict(branch.get("properties", {}))
            head, *tail = rest
            properties[head] = place(properties.get(head, {}), tail) if tail else value.schema
            placed.append({**branch, "type": "object", "properties": properties})
        return placed[0] if len(placed) == 1 else {"anyOf": placed}

    return Shape(f"{origin} + {value.origin} at {result_path}", place(given.schema, keys))


def _rules(rules: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every comparison of a Choice, inside And/Or/Not too."""
    for rule in rules:
        for key in ("And", "Or"):
            if key in rule:
                yield from _rules(rule[key])
        if "Not" in rule:
            yield from _rules([rule["Not"]])
        if "Variable" in rule:
            yield rule


def _ordered_rules(
    choices: list[Mapping[str, Any]], guarded: set[str]
) -> Iterator[Mapping[str, Any]]:
    """The comparisons of each top-level rule in order; a path tested with IsPresent in a
    rule is guarded from that rule on (an earlier rule routed its absence elsewhere)."""
    for choice in choices:
        comparisons = list(_rules([choice]))
        guarded |= {rule["Variable"] for rule in comparisons if "IsPresent" in rule}
        yield from comparisons


def _parameter_paths(parameters: Any) -> Iterator[str]:
    if isinstance(parameters, dict):
        for key, value in parameters.items():
            if key.endswith(".$") and isinstance(value, str):
                yield value
            else:
                yield from _parameter_paths(value)


def _function_of(state: Mapping[str, Any]) -> str | None:
    name = (state.get("Parameters") or {}).get("FunctionName")
    return name if isinstance(name, str) else None
