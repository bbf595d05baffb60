"""Does a CloudFormation template pin a function's runtime?

A function managed by a stack is rolled forward by rollforward, and then the stack's next
deploy applies its template again: if the template sets `RuntimeManagementConfig` (on the
`AWS::Lambda::Function`) or `RuntimePolicy` (on an `AWS::Lambda::Version` of it) to Manual,
the promotion is undone. This module reads a template (the text `GetTemplate` answers, JSON or
YAML) and says, per function resource (logical id), which property pins it and to what.

Templates are input from outside rollforward: any text may arrive. Parsing never raises on a
malformed or unexpected template; it answers what it can prove (`parse_template` returns None
for text that is not a template, `template_pins` skips resources it cannot read). Intrinsic
functions (`{"Ref": ...}`, `!Ref`, `Fn::If`) are not evaluated: a pin whose mode is not a
literal is reported as `UpdateRuntimeOn: <intrinsic>` — it may pin, and the owner should know.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MANUAL = "Manual"
INTRINSIC = "<intrinsic>"
FUNCTION_TYPE = "AWS::Lambda::Function"
VERSION_TYPE = "AWS::Lambda::Version"
MAX_TEMPLATE_CHARS = 1_000_000  # CloudFormation's limit for a template in S3


@dataclass(frozen=True, slots=True)
class TemplatePin:
    """A template property that pins (or may pin) a function's runtime."""

    stack_name: str
    logical_id: str  # of the AWS::Lambda::Function
    property_path: str  # "Resources.Fn.Properties.RuntimeManagementConfig"
    update_runtime_on: str  # "Manual" or "<intrinsic>"
    runtime_version_arn: str = ""

    @property
    def sentence(self) -> str:
        """What the approval request and the preflight tell the owner."""
        pinned = f" on {self.runtime_version_arn}" if self.runtime_version_arn else ""
        may = "may pin" if self.update_runtime_on == INTRINSIC else "pins"
        return (
            f"CloudFormation stack {self.stack_name} {may} this function to Manual{pinned} "
            f"({self.property_path}): its next deploy will undo the roll-forward unless the "
            "template is changed to UpdateRuntimeOn: Auto"
        )


class _Loader:
    """YAML with CloudFormation's short-form intrinsics (`!Ref x`, `!GetAtt a.b`)."""

    @staticmethod
    def load(text: str) -> Any:
        import yaml  # only templates in YAML need it

        class Loader(yaml.SafeLoader):  # type: ignore[misc]
            pass

        def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
            name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
            if isinstance(node, yaml.ScalarNode):
                return {name: loader.construct_scalar(node)}
            if isinstance(node, yaml.SequenceNode):
                return {name: loader.construct_sequence(node, deep=True)}
            return {name: loader.construct_mapping(node, deep=True)}

        Loader.add_multi_constructor("!", intrinsic)
        return yaml.load(text, Loader=Loader)  # a SafeLoader: builds plain data only


def parse_template(body: object) -> Mapping[str, Any] | None:
    """A template document from what GetTemplate answers (a dict, JSON or YAML text)."""
    if isinstance(body, Mapping):
        return body
    if not isinstance(body, str) or len(body) > MAX_TEMPLATE_CHARS:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        try:
            document = _Loader.load(body)
        except Exception:  # any YAML error, recursion included: not a template we can read
            return None
    return document if isinstance(document, Mapping) else None


def _mode(policy: object) -> tuple[str, str] | None:
    """(UpdateRuntimeOn, RuntimeVersionArn) when `policy` pins or may pin; None otherwise."""
    if not isinstance(policy, Mapping):
        return None
    mode = policy.get("UpdateRuntimeOn")
    arn = policy.get("RuntimeVersionArn")
    arn_text = arn if isinstance(arn, str) else (INTRINSIC if arn is not None else "")
    if mode == MANUAL:
        return MANUAL, arn_text
    if isinstance(mode, Mapping):  # Ref / Fn::If / ...: cannot be ruled out
        return INTRINSIC, arn_text
    return None


def _referenced_function(value: object) -> str | None:
    """The logical id a Version's FunctionName refers to (`Ref` or `Fn::GetAtt [x, Arn]`)."""
    if not isinstance(value, Mapping):
        return None
    ref = value.get("Ref")
    if isinstance(ref, str):
        return ref
    get_att = value.get("Fn::GetAtt")
    if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
        return get_att[0]
    if isinstance(get_att, str):
        return get_att.split(".", 1)[0]
    return None


def template_pins(stack_name: str, template: Mapping[str, Any]) -> dict[str, TemplatePin]:
    """Logical id of each function resource → the first property that pins it."""
    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        return {}
    pins: dict[str, TemplatePin] = {}
    for logical_id, resource in resources.items():
        if not isinstance(logical_id, str) or not isinstance(resource, Mapping):
            continue
        properties = resource.get("Properties")
        if not isinstance(properties, Mapping):
            continue
        kind = resource.get("Type")
        if kind == FUNCTION_TYPE:
            found = _mode(properties.get("RuntimeManagementConfig"))
            if found is not None:
                pins[logical_id] = TemplatePin(
                    stack_name,
                    logical_id,
                    f"Resources.{logical_id}.Properties.RuntimeManagementConfig",
                    *found,
                )
        elif kind == VERSION_TYPE:
            found = _mode(properties.get("RuntimePolicy"))
            function = _referenced_function(properties.get("FunctionName"))
            if found is not None and function is not None and function not in pins:
                pins[function] = TemplatePin(
                    stack_name,
                    function,
                    f"Resources.{logical_id}.Properties.RuntimePolicy",
                    *found,
                )
    return pins
