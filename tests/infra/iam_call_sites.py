"""Every AWS call site under lambdas/ beside the IAM statement that allows it (a static check).

Three steps, none of which runs the code:

1. **Call sites.** Walk the AST of every module of the `rollforward` package and find each
   boto3 operation it calls or passes on (`self.lam.update_alias(...)`, and
   `_transient(self.lam.update_alias, ...)`): the receiver's name says the service
   (`RECEIVER_SERVICES`); an operation name that only one of the project's services has is
   enough without it. A call inside `if ... state_machine_arn ...:` only happens in a function
   whose environment sets the variable (`GUARDS`).
2. **Reachability.** From each function's entry point in the template (`Handler`), follow
   imports within the package (a string naming a package module counts: lazy imports through
   `importlib` and a module `__getattr__`) and then calls by name (`x.observe(...)` reaches every `def
   observe` of the imported modules): an over-approximation, never an under-one, except for
   calls made through `getattr` with a computed name (none in the package). Three things keep
   it from reaching what a function cannot run: a receiver typed as a Protocol (a port)
   reaches only the implementations the function's own reachable code names — the adapters
   its wiring (handlers/wiring.py) constructs — iterated to a fixpoint; a use under
   `if state_machine_arn` (or after `if not state_machine_arn: return`) is guarded like the
   call sites in it; and `mod.f` means `f` of module `mod`, while `table.scan(...)` on a
   receiver declared as no package class is boto3's `scan`, not `Scanner.scan`.
   `explain(handler, operation)` prints the chain that reaches a call.
3. **Grants.** Each reached operation is an IAM action on the resource the code acts on (the
   table, topic or log group its environment names; any function of the account for Lambda
   operations; the stack's own state machine and its executions), evaluated against the role's
   statements as synthesized (`emulator.iam.statement_allows`), intrinsics resolved for one
   account and region.

`python -m tests.infra.iam_call_sites` writes `docs/iam-call-sites.md` from a fresh synthesis;
`tests/infra/test_iam_crosscheck.py` fails when a call is not granted, when a function holds a
grant of a checked service that no reachable code uses, or when that document is stale.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

from emulator.iam import statement_allows

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "lambdas" / "rollforward"
PACKAGE = "rollforward"
DOC = ROOT / "docs" / "iam-call-sites.md"

PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"
# What a pinned function of the account looks like to the checks: any name, any version.
SOME_FUNCTION = f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:some-pinned-function"

# boto3 services the package builds clients of (botocore names) → IAM action prefix.
SERVICES = {
    "lambda": "lambda",
    "stepfunctions": "states",
    "sns": "sns",
    "logs": "logs",
    "cloudwatch": "cloudwatch",
    "ssm": "ssm",
    "dynamodb": "dynamodb",
    "ecr": "ecr",
    "cloudformation": "cloudformation",
    "sts": "sts",
    "organizations": "organizations",
}
# A receiver's last name (leading underscores dropped) → the service of the client it holds;
# `client` / `*_client` are clients of the one service whose operation the name is.
RECEIVER_SERVICES = {
    "lam": "lambda",
    "lambda_client": "lambda",
    "sfn": "stepfunctions",
    "sfn_client": "stepfunctions",
    "sns": "sns",
    "logs": "logs",
    "cloudwatch": "cloudwatch",
    "ssm": "ssm",
    "table": "dynamodb",
    "ecr": "ecr",
    "cloudformation": "cloudformation",
    "sts": "sts",
    "organizations": "organizations",
}
# A call under `if <name>` happens only where the function's environment sets the variable.
GUARDS = {"state_machine_arn": "STATE_MACHINE_ARN", "member_role_name": "MEMBER_ROLE_NAME"}
# After `if <name>(...): return`, the rest runs only where the environment sets the variable
# (StsAccountSessions.is_home: no member role, every account is the hub's own).
RETURN_UNLESS = {"is_home": "MEMBER_ROLE_NAME"}
# Operations AWS authorizes for every caller, whatever its policies say (STS API Reference,
# GetCallerIdentity: "No permissions are required to perform this operation").
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})
# Values for template parameters without a Default (the member stack's, which the hub's
# StackSet passes), as `Template._parameter` resolves a Ref to them.
SAMPLE_PARAMETERS = {
    "OrganizationId": "o-exampleorg1",
    "HubAccountId": "123456789012",
    "HubEventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/rollforward-hub",
    "HubReaderRoleArns": "arn:aws:iam::123456789012:role/hub-reader",
    "HubCanaryRoleArn": "arn:aws:iam::123456789012:role/hub-canary",
}
# The context keys (lowercase, as emulator.iam keeps them) the hub's calls carry: the hub, its
# members and their roles are all in SAMPLE_PARAMETERS' organization, so grants conditioned on
# the organization hold; conditions on any other key do not.
REQUEST_CONTEXT = {
    "aws:resourceorgid": [SAMPLE_PARAMETERS["OrganizationId"]],
    "aws:principalorgid": [SAMPLE_PARAMETERS["OrganizationId"]],
}
# A member account as the checks see one (cross-account calls of the hub, issue 12).
MEMBER_ACCOUNT = "210987654321"
# IAM action names that differ from the operation's name.
ACTION_NAMES = {("lambda", "Invoke"): "InvokeFunction"}
# Grants no reachable code uses are listed for these prefixes, and fail the test for
# FAIL_UNUSED (the rights to start, stop or answer executions). The rest are CDK's grant
# bundles (grant_read_write_data, the function's own log group, KMS for encrypted resources,
# X-Ray), or the shared read-only Lambda statement, wider than the calls by design.
REVERSE_CHECKED = ("lambda:", "states:", "sns:", "ssm:", "cloudwatch:")
FAIL_UNUSED = ("states:",)


@dataclass(frozen=True, slots=True)
class CallSite:
    module: str
    qualname: str  # the def the call is in ("<module>" at top level)
    line: int
    service: str  # botocore service name
    operation: str  # the API operation (PascalCase)
    enclosing_class: str
    guard: str | None  # the environment variable the call depends on, if any
    # For sns:Publish: the audiences ("owner", "team", "oncall") whose topics the def names;
    # empty: any of them.
    audiences: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        prefix = SERVICES[self.service]
        return f"{prefix}:{ACTION_NAMES.get((prefix, self.operation), self.operation)}"

    @property
    def where(self) -> str:
        return f"{self.module.removeprefix(PACKAGE + '.')}.{self.qualname}"


@dataclass(slots=True)
class _Def:
    module: str
    qualname: str
    name: str
    node: ast.AST
    references: set[Any] = field(default_factory=set)  # _Ref
    sites: list[CallSite] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Unresolved:
    """An operation name the checker cannot attribute to one service."""

    module: str
    line: int
    text: str


# --- botocore -------------------------------------------------------------------------------


@cache
def _operations() -> dict[str, dict[str, str]]:
    """service → snake_case method → Operation (botocore's own naming, as boto3 exposes it)."""
    session = _session()
    return {
        service: {
            xform_name(name): name for name in session.get_service_model(service).operation_names
        }
        for service in SERVICES
    }


@cache
def _session() -> Any:
    return botocore.session.get_session()


@cache
def _available_services() -> frozenset[str]:
    return frozenset(_session().get_available_services())


@cache
def _all_operations(service: str) -> frozenset[str]:
    if service not in _available_services():
        return frozenset()
    return frozenset(
        xform_name(name) for name in _session().get_service_model(service).operation_names
    )


def _unmodelled_client_call(receiver: str | None, method: str) -> bool:
    """`ecr.describe_images`-like: a receiver named after a service this check does not
    cover, calling one of its operations (so a new service cannot slip past unchecked)."""
    if not receiver:
        return False
    service = receiver.removesuffix("_client")
    if service in SERVICES or service in RECEIVER_SERVICES:
        return False
    return method in _all_operations(service)


def _is_client_call(receiver: str | None, method: str) -> bool:
    if receiver is None:
        return False
    service = RECEIVER_SERVICES.get(receiver)
    if service is not None:
        return method in _operations()[service]
    generic = receiver == "client" or receiver.endswith("_client")
    return generic and bool(_services_with(method))


def _services_with(method: str) -> list[str]:
    return [service for service, ops in _operations().items() if method in ops]


# --- modules and defs -----------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, ast.Module]:
    return {
        _module_name(path): ast.parse(path.read_text(), filename=str(path))
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
    }


def _imports(module: str, tree: ast.Module) -> set[str]:
    """Modules of the package that `module` imports (a `from x import y` may name module x.y)."""
    known = _modules()
    is_package = (PACKAGE_DIR.parent / module.replace(".", "/") / "__init__.py").exists()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            names = [origin, *(f"{origin}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # A module named in a string is imported lazily (importlib, a module __getattr__).
            if node.value not in known:
                continue
            names = [node.value]
        else:
            continue
        for name in names:
            # `import a.b.c` also runs a and a.b.
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                candidate = ".".join(parts[:end])
                if candidate in known:
                    found.add(candidate)
    return found


@cache
def _imports_of(module: str) -> frozenset[str]:
    return frozenset(_imports(module, _modules()[module]))


def import_closure(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen or current not in _modules():
            continue
        seen.add(current)
        todo.extend(_imports_of(current) - seen)
    return seen


@cache
def _own_def_names() -> frozenset[str]:
    return frozenset(
        node.name
        for tree in _modules().values()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id.lstrip("_")
    if isinstance(node, ast.Attribute):
        return node.attr.lstrip("_")
    return None


def _guard_of(test: ast.expr) -> str | None:
    for node in ast.walk(test):
        name = _receiver_name(node) if isinstance(node, ast.Name | ast.Attribute) else None
        if name in GUARDS:
            return GUARDS[name]
    return None


def _early_return_guard(statement: ast.stmt) -> str | None:
    if (
        isinstance(statement, ast.If)
        and not statement.orelse
        and isinstance(statement.body[-1], ast.Return | ast.Raise)
        and not isinstance(statement.test, ast.UnaryOp)
    ):
        for node in ast.walk(statement.test):
            name = _receiver_name(node) if isinstance(node, ast.Name | ast.Attribute) else None
            if name in RETURN_UNLESS:
                return RETURN_UNLESS[name]
    if (
        isinstance(statement, ast.If)
        and not statement.orelse
        and isinstance(statement.test, ast.UnaryOp)
        and isinstance(statement.test.op, ast.Not)
        and isinstance(statement.body[-1], ast.Return | ast.Raise)
    ):
        return _guard_of(statement.test.operand)
    return None


def _type_name(annotation: ast.expr | None) -> str | None:
    """The class an annotation names (`Ledger`, `"Ledger"`, `Ledger | None`, `mod.Ledger`)."""
    if annotation is None:
        return None
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        left, right = _type_name(annotation.left), _type_name(annotation.right)
        return left if right in (None, "None") else right if left in (None, "None") else None
    if isinstance(annotation, ast.Name):
        return annotation.id
    if isinstance(annotation, ast.Attribute):
        return annotation.attr
    return None


@dataclass(slots=True)
class _Class:
    name: str
    bases: list[str]
    methods: dict[str, _Def] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)  # self.x → class name

    @property
    def is_interface(self) -> bool:
        return any(base in {"Protocol", "ABC"} for base in self.bases)


@dataclass(frozen=True, slots=True)
class _Ref:
    """A name a def uses: bare (`name`), or an attribute of a receiver of a known type."""

    name: str
    attribute: bool
    receiver_type: str | None = None
    module: str = ""  # for a bare name: the module it is used in (its namespace decides)
    guard: str | None = None  # used under `if <guard>` (or after `if not <guard>: return`)
    # `table.scan(...)`, `client.invoke(...)`: a receiver named as a client calling one of its
    # service's operations is a boto3 call (its site is recorded), unless its type is a
    # package class.
    client_call: bool = False


class _Collector(ast.NodeVisitor):
    """Defs (with the names they use and the call sites in them) and classes of one module."""

    def __init__(self, module: str, unresolved: list[Unresolved]) -> None:
        self.module = module
        self.unresolved = unresolved
        self.top = _Def(module, "<module>", "<module>", ast.Module(body=[], type_ignores=[]))
        self.defs: list[_Def] = [self.top]
        self.classes: dict[str, _Class] = {}
        self.returns: dict[str, str] = {}  # module-level function → the class it returns
        self.imported: dict[str, tuple[str, str]] = {}  # local name → (module, name there)
        self._stack: list[_Def] = [self.top]
        self._class_stack: list[_Class] = []
        self._locals: list[dict[str, str]] = [{}]
        self._guards: list[str] = []
        self._own = _own_def_names()

    # -- structure
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        parent = self._stack[-1]
        prefix = "" if parent is self.top else parent.qualname + "."
        entry = _Def(self.module, prefix + node.name, node.name, node)
        self.defs.append(entry)
        in_class = bool(self._class_stack) and parent.qualname == self._class_stack[-1].name
        if in_class:
            self._class_stack[-1].methods[node.name] = entry
        elif parent is self.top:
            returned = _type_name(node.returns)
            if returned:
                self.returns[node.name] = returned
        local_types = {
            arg.arg: t
            for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if (t := _type_name(arg.annotation))
        }
        if in_class:
            local_types["self"] = self._class_stack[-1].name
        self._stack.append(entry)
        self._locals.append(local_types)
        guards = len(self._guards)
        for statement in node.body:
            self.visit(statement)
            early = _early_return_guard(statement)
            if early:  # `if not <guard>: return`: the rest of the def runs only with it set
                self._guards.append(early)
        del self._guards[guards:]
        self._locals.pop()
        self._stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]  # same walk

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        bases = [b for b in (_type_name(base) for base in node.bases) if b]
        cls = _Class(node.name, bases)
        self.classes[node.name] = cls
        parent = self._stack[-1]
        entry = _Def(self.module, node.name, node.name, node)
        self.defs.append(entry)
        del parent
        self._class_stack.append(cls)
        self._stack.append(entry)
        for statement in node.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                annotated = _type_name(statement.annotation)
                if annotated:
                    cls.attributes[statement.target.id] = annotated
            self.visit(statement)
        self._stack.pop()
        self._class_stack.pop()

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.module.split(".")
            is_package = (
                PACKAGE_DIR.parent / self.module.replace(".", "/") / "__init__.py"
            ).exists()
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            origin = ".".join([*base, *([node.module] if node.module else [])])
        else:
            origin = node.module or ""
        for alias in node.names:
            self.imported[alias.asname or alias.name] = (origin, alias.name)

    def visit_If(self, node: ast.If) -> None:
        guard = _guard_of(node.test)
        self.visit(node.test)
        if guard:
            self._guards.append(guard)
        for statement in node.body:
            self.visit(statement)
        if guard:
            self._guards.pop()
        for statement in node.orelse:
            self.visit(statement)

    # -- types of locals and of self's attributes
    def _type_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self._locals[-1].get(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "self" and self._class_stack:
                return self._class_stack[-1].attributes.get(node.attr)
            owner = self._locals[-1].get(node.value.id)
            # `ctx.lam` with `ctx: CanaryContext`: the attribute's declared type, looked up
            # when the classes of the whole closure are known.
            return f"attr:{owner}.{node.attr}" if owner and ":" not in owner else None
        if isinstance(node, ast.Call):
            callee = node.func
            name = (
                callee.id
                if isinstance(callee, ast.Name)
                else callee.attr
                if isinstance(callee, ast.Attribute)
                else None
            )
            if name is None:
                return None
            # A class called constructs it; a function's return annotation says what it gives.
            return f"call:{name}"
        return None

    def _assign(self, target: ast.expr, value: ast.expr) -> None:
        kind = self._type_of(value)
        if kind is None:
            return
        if isinstance(target, ast.Name):
            self._locals[-1][target.id] = kind
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and self._class_stack
        ):
            self._class_stack[-1].attributes.setdefault(target.attr, kind)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._assign(target, node.value)
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        annotated = _type_name(node.annotation)
        if isinstance(node.target, ast.Name) and annotated:
            self._locals[-1][node.target.id] = annotated
        elif annotated and node.value is not None:
            self._assign(node.target, node.value)
        self.visit(node.target)

    # -- uses
    def _guard(self) -> str | None:
        return self._guards[-1] if self._guards else None

    def visit_Name(self, node: ast.Name) -> None:
        self._stack[-1].references.add(
            _Ref(node.id, attribute=False, module=self.module, guard=self._guard())
        )

    def _module_named(self, name: str) -> str | None:
        """The package module a local name stands for (`from rollforward import failures`)."""
        origin = self.imported.get(name)
        if origin is None:
            return None
        module = f"{origin[0]}.{origin[1]}"
        return module if module in _modules() else None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        receiver_type = self._type_of(node.value)
        if receiver_type is None and isinstance(node.value, ast.Name):
            module = self._module_named(node.value.id)
            if module is not None:
                receiver_type = f"module:{module}"
        self._stack[-1].references.add(  # type: ignore[arg-type]
            _Ref(
                node.attr,
                attribute=True,
                receiver_type=receiver_type,
                guard=self._guard(),
                client_call=_is_client_call(_receiver_name(node.value), node.attr),
            )
        )
        self._site(node)
        self.generic_visit(node)

    def _site(self, node: ast.Attribute) -> None:
        method = node.attr
        receiver = _receiver_name(node.value)
        if _unmodelled_client_call(receiver, method):
            self.unresolved.append(
                Unresolved(
                    self.module, node.lineno, f"{ast.unparse(node)} (service not in SERVICES)"
                )
            )
            return
        candidates = _services_with(method)
        if not candidates:
            return
        service = RECEIVER_SERVICES.get(receiver or "")
        if service is None:
            generic_client = receiver is not None and (
                receiver == "client" or receiver.endswith("_client")
            )
            if method in self._own and not generic_client:
                return  # one of the package's own methods (Scanner.scan, ...)
            if len(candidates) != 1:
                self.unresolved.append(Unresolved(self.module, node.lineno, ast.unparse(node)))
                return
            service = candidates[0]
        elif method not in _operations()[service]:
            return  # an attribute of the client or table that is no operation (meta, name)
        current = self._stack[-1]
        current.sites.append(
            CallSite(
                module=self.module,
                qualname=current.qualname,
                line=node.lineno,
                service=service,
                operation=_operations()[service][method],
                enclosing_class=self._class_stack[-1].name if self._class_stack else "",
                guard=self._guards[-1] if self._guards else None,
                audiences=_audiences(current.node) if method == "publish" else (),
            )
        )


AUDIENCES = ("owner", "team", "oncall")


def _audiences(node: ast.AST) -> tuple[str, ...]:
    """The audiences a def names as string constants (`settings.topics.get("owner")`)."""
    named = {
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in AUDIENCES
    }
    return tuple(a for a in AUDIENCES if a in named)


@dataclass(frozen=True, slots=True)
class _Collected:
    defs: dict[str, list[_Def]]
    classes: dict[str, dict[str, _Class]]
    returns: dict[str, dict[str, str]]
    imported: dict[str, dict[str, tuple[str, str]]]
    unresolved: tuple[Unresolved, ...]


@cache
def _collected() -> _Collected:
    unresolved: list[Unresolved] = []
    defs: dict[str, list[_Def]] = {}
    classes: dict[str, dict[str, _Class]] = {}
    returns: dict[str, dict[str, str]] = {}
    imported: dict[str, dict[str, tuple[str, str]]] = {}
    for module, tree in _modules().items():
        collector = _Collector(module, unresolved)
        for statement in tree.body:
            collector.visit(statement)
        defs[module], classes[module], returns[module] = (
            collector.defs,
            collector.classes,
            collector.returns,
        )
        imported[module] = collector.imported
    return _Collected(defs, classes, returns, imported, tuple(unresolved))


def unresolved_sites() -> tuple[Unresolved, ...]:
    return _collected().unresolved


# Methods of the builtin containers: on a receiver of unknown type (a boto3 answer, a parsed
# event) these are the builtin's. A package object of a known type resolves precisely.
_CONTAINER_METHODS = frozenset(
    name for kind in (dict, list, set, str) for name in dir(kind) if not name.startswith("_")
) | {"read", "write"}  # file-like answers (a Lambda invoke's Payload stream)

_CONSTRUCTION = ("__init__", "__post_init__", "__call__", "__enter__", "__exit__")


class _Graph:
    """Defs of an import closure, and what a use of a name can run."""

    def __init__(self, modules: Iterable[str]) -> None:
        collected = _collected()
        self.defs = [d for m in sorted(modules) for d in collected.defs[m]]
        self.classes: dict[str, list[_Class]] = {}
        self.returns: dict[str, set[str]] = {}
        for m in sorted(modules):
            for name, cls in collected.classes[m].items():
                self.classes.setdefault(name, []).append(cls)
            for name, returned in collected.returns[m].items():
                self.returns.setdefault(name, set()).add(returned)
        method_ids = {id(d) for c in self._all_classes() for d in c.methods.values()}
        self.functions: dict[str, list[_Def]] = {}  # module-level and nested functions, classes
        self.methods: dict[str, list[_Def]] = {}
        for d in self.defs:
            table = self.methods if id(d) in method_ids else self.functions
            table.setdefault(d.name, []).append(d)

    def _all_classes(self) -> Iterator[_Class]:
        for group in self.classes.values():
            yield from group

    def _resolve(self, kind: str | None, depth: int = 0) -> list[_Class]:
        """The package classes a local/attribute type stands for (unknown: empty)."""
        if kind is None or depth > 4:
            return []
        if kind.startswith("attr:"):
            owner, _, attribute = kind.removeprefix("attr:").partition(".")
            return [
                c
                for cls in self.classes.get(owner, [])
                for c in self._resolve(cls.attributes.get(attribute), depth + 1)
            ]
        if kind.startswith("call:"):
            name = kind.removeprefix("call:")
            if name in self.classes:
                return self.classes[name]
            return [
                c for r in sorted(self.returns.get(name, ())) for c in self._resolve(r, depth + 1)
            ]
        return self.classes.get(kind, [])

    def _method(self, cls: _Class, name: str, depth: int = 0) -> list[_Def] | None:
        """The def `name` of `cls` or its bases; None when the class cannot say (an interface,
        an unknown base)."""
        if cls.is_interface:
            return None
        if name in cls.methods:
            return [cls.methods[name]]
        if depth > 4:
            return None
        found: list[_Def] = []
        for base in cls.bases:
            for parent in self.classes.get(base, []):
                inherited = self._method(parent, name, depth + 1)
                if inherited is None:
                    return None
                found.extend(inherited)
        if not found and any(base not in self.classes for base in cls.bases if base != "object"):
            return []  # a library base (Exception, BaseModel): not a package def
        return found

    @staticmethod
    def _classes_of(defs: list[_Def]) -> list[_Class]:
        classes = _collected().classes
        return [
            classes[d.module][d.name]
            for d in defs
            if isinstance(d.node, ast.ClassDef) and d.name in classes.get(d.module, {})
        ]

    def _visible(self, module: str, name: str, depth: int = 0) -> list[_Def]:
        """Functions and classes `name` means in `module`: its own, or imported by name
        (following re-exports); a local variable or a builtin means none."""
        own = [d for d in self.functions.get(name, []) if d.module == module]
        if own or depth > 4:
            return own
        origin = _collected().imported.get(module, {}).get(name)
        if origin is None:
            return []
        source, original = origin
        if f"{source}.{original}" in _modules():
            return []  # a module imported by name: its functions are reached as attributes
        return self._visible(source, original, depth + 1)

    def targets(self, ref: _Ref, constructed: frozenset[str]) -> list[_Def]:
        """What a use of `ref` can run, where only the classes in `constructed` have
        instances (a Protocol-typed receiver is one of those that implement it)."""
        if not ref.attribute or (ref.receiver_type or "").startswith("module:"):
            module = ref.module if not ref.attribute else str(ref.receiver_type)[len("module:") :]
            found = self._visible(module, ref.name) if module else []
            if ref.attribute and not found:
                return self._by_name(ref.name)  # a name the module re-exports lazily
            for cls in self._classes_of(found):
                for method in _CONSTRUCTION:
                    found.extend(self._method(cls, method) or [])
            return found
        classes = self._resolve(ref.receiver_type)
        if ref.client_call and ref.receiver_type is not None and not classes:
            # Declared as no package class (`table: Any`): boto3's own method; its call site
            # is recorded where it is made. An undeclared receiver may be a port: by name.
            return []
        if classes:
            resolved: list[_Def] = []
            for cls in classes:
                if cls.is_interface:
                    implementations = self._implementations(cls)
                    if not implementations:
                        return self._by_name(ref.name)
                    for implementation in implementations:
                        if implementation.name in constructed:
                            resolved.extend(self._method(implementation, ref.name) or [])
                    continue
                method = self._method(cls, ref.name)
                if method is None:
                    return self._by_name(ref.name)
                resolved.extend(method)
            return resolved
        return self._by_name(ref.name)

    def _implementations(self, interface: _Class) -> list[_Class]:
        """Classes that have every method of a Protocol (structurally, as mypy sees it)."""
        wanted = {name for name in interface.methods if not name.startswith("__")}
        return [
            cls
            for cls in self._all_classes()
            if not cls.is_interface and wanted and wanted <= set(cls.methods)
        ]

    def _by_name(self, name: str) -> list[_Def]:
        """Unknown receiver: any method of that name, or a module's function (`mod.f`) — but
        `x.get(...)` on a receiver of unknown type is a dict's, not `Ledger.get`."""
        methods = [] if name in _CONTAINER_METHODS else self.methods.get(name, [])
        return [*methods, *self.functions.get(name, [])]


def reachable_sites(entry_point: str) -> list[CallSite]:
    """Call sites reached from `module.function` (a template `Handler`); the package's code is
    read once per process."""
    return list(_walk_from(entry_point).sites)


@dataclass(frozen=True, slots=True)
class _Walk:
    sites: tuple[CallSite, ...]
    constructed: frozenset[str]  # package classes named (so possibly instantiated) on the way
    parents: Mapping[tuple[int, str | None], tuple[tuple[int, str | None], str] | None]
    defs: Mapping[int, _Def]


def _walk(graph: _Graph, starts: list[_Def], constructed: frozenset[str]) -> _Walk:
    """Everything reached from `starts`. A state is (def, guard): a def reached only through
    uses under `if <guard>` runs only where the function's environment sets the guard, and so
    do the call sites in it."""
    parents: dict[tuple[int, str | None], tuple[tuple[int, str | None], str] | None] = {}
    defs: dict[int, _Def] = {}
    todo: list[tuple[_Def, str | None]] = []
    for start in starts:
        parents[(id(start), None)] = None
        defs[id(start)] = start
        todo.append((start, None))
    sites: set[CallSite] = set()
    named: set[str] = set()
    while todo:
        current, guard = todo.pop()
        if guard is not None and (id(current), None) in parents:
            continue  # also reached unguarded: that walk covers it
        if isinstance(current.node, ast.ClassDef):
            named.add(current.name)
        sites.update(
            site if site.guard or guard is None else _with_guard(site, guard)
            for site in current.sites
        )
        for ref in current.references:
            next_guard = guard or ref.guard
            for target in graph.targets(ref, constructed):
                state = (id(target), next_guard)
                if state in parents or (id(target), None) in parents:
                    continue
                parents[state] = ((id(current), guard), ref.name)
                defs[id(target)] = target
                todo.append((target, next_guard))
    ordered = tuple(sorted(sites, key=lambda s: (s.module, s.line, s.operation, s.guard or "")))
    return _Walk(ordered, frozenset(named), parents, defs)


def _with_guard(site: CallSite, guard: str) -> CallSite:
    return CallSite(
        site.module,
        site.qualname,
        site.line,
        site.service,
        site.operation,
        site.enclosing_class,
        guard,
        site.audiences,
    )


@cache
def _walk_from(entry_point: str) -> _Walk:
    """The walk from `module.function` (a template `Handler`). A Protocol-typed receiver
    reaches only the implementations this function's own code names (its wiring constructs
    them): iterated to a fixpoint, since reaching more code can name more classes."""
    module, _, function = entry_point.rpartition(".")
    graph = _Graph(import_closure(module))
    roots = [d for d in graph.defs if d.qualname == "<module>"]
    entry = [d for d in graph.defs if d.module == module and d.qualname == function]
    if not entry:
        raise LookupError(f"entry point {entry_point} not found")
    constructed: frozenset[str] = frozenset()
    while True:
        walk = _walk(graph, [*roots, *entry], constructed)
        if walk.constructed <= constructed:
            return walk
        constructed = constructed | walk.constructed


def constructed_classes(entry_point: str) -> frozenset[str]:
    """The package classes the function's reachable code names (the adapters its wiring
    builds among them)."""
    return _walk_from(entry_point).constructed


def explain(entry_point: str, operation: str) -> list[list[str]]:
    """How the function reaches each call site of `operation`: the chain of defs and the
    names used between them (for a reviewer asking "why does Posture call this?")."""
    walk = _walk_from(entry_point)
    chains: list[list[str]] = []
    for state, parent in walk.parents.items():
        target = walk.defs[state[0]]
        if not any(site.operation == operation for site in target.sites):
            continue
        chain = [f"{target.module}.{target.qualname}" + (f" [if {state[1]}]" if state[1] else "")]
        link = parent
        while link is not None:
            previous, name = link
            owner = walk.defs[previous[0]]
            chain.append(f"{owner.module}.{owner.qualname} --{name}-->")
            link = walk.parents.get(previous)
        chains.append(list(reversed(chain)))
    return chains


# --- the template ---------------------------------------------------------------------------


_NAME_PROPERTIES = ("TableName", "TopicName", "LogGroupName", "StateMachineName", "RoleName")


class Template:
    """Intrinsics of a synthesized template resolved for one account and region."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.resources: Mapping[str, Any] = document["Resources"]
        self.parameters: Mapping[str, Any] = document.get("Parameters") or {}

    def _parameter(self, name: str) -> str | list[str]:
        """A template parameter's value as the check sees it: its Default, else the sample in
        `SAMPLE_PARAMETERS` (a hub or member template is deployed with values only its
        installer knows). A parameter with neither is an error: a Ref the check cannot
        resolve would silently check nothing."""
        declared = self.parameters[name]
        value = declared.get("Default", SAMPLE_PARAMETERS.get(name))
        if value is None:
            raise KeyError(
                f"template parameter {name} has no Default: add a SAMPLE_PARAMETERS value"
            )
        if str(declared.get("Type", "")).startswith("CommaDelimitedList"):
            return [part.strip() for part in str(value).split(",")]
        return str(value)

    def _name(self, logical: str) -> str:
        props = self.resources[logical].get("Properties") or {}
        for key in _NAME_PROPERTIES:
            if isinstance(props.get(key), str):
                return str(props[key])
        return logical

    def name_of(self, logical: str) -> str:
        """The physical name the resource is given (or its logical id)."""
        return self._name(logical)

    def _ref(self, logical: str) -> str:
        pseudo = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        if logical in pseudo:
            return pseudo[logical]
        if logical in self.parameters:
            return self._parameter(logical)  # type: ignore[return-value]
        kind = self.resources[logical]["Type"]
        name = self._name(logical)
        if kind == "AWS::SNS::Topic":
            return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{name}"
        if kind == "AWS::StepFunctions::StateMachine":
            return f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
        return name

    def _arn(self, logical: str) -> str:
        kind = self.resources[logical]["Type"]
        name = self._name(logical)
        service, shape = {
            "AWS::DynamoDB::Table": ("dynamodb", "table/{}"),
            "AWS::Logs::LogGroup": ("logs", "log-group:{}:*"),
            "AWS::KMS::Key": ("kms", "key/{}"),
            "AWS::Lambda::Function": ("lambda", "function:{}"),
            "AWS::SNS::Topic": ("sns", "{}"),
            "AWS::StepFunctions::StateMachine": ("states", "stateMachine:{}"),
        }.get(kind, ("unknown", "{}"))
        return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT}:{shape.format(name)}"

    def _sub(self, name: str) -> str:
        logical, _, attribute = name.partition(".")
        if not attribute:
            return self._ref(logical)
        return self._arn(logical) if attribute == "Arn" else self._name(logical)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self._ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            return self._arn(logical) if attribute == "Arn" else self._name(logical)
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            if isinstance(parts, dict):  # {"Fn::Join": [",", {"Ref": "SomeList"}]}
                parts = self.resolve(parts)
            return str(separator).join(str(self.resolve(p)) for p in parts)
        if set(value) == {"Fn::Split"}:
            separator, text = value["Fn::Split"]
            return str(self.resolve(text)).split(separator)
        if set(value) == {"Fn::Select"}:
            index, items = value["Fn::Select"]
            return self.resolve(items)[int(index)]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1)), value["Fn::Sub"])
        return {key: self.resolve(v) for key, v in value.items()}

    def functions(self) -> dict[str, dict[str, Any]]:
        """Function logical id → {handler, role (logical id), environment (resolved)}."""
        found: dict[str, dict[str, Any]] = {}
        for logical, resource in self.resources.items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            props = resource["Properties"]
            handler = props.get("Handler", "")
            if not str(handler).startswith(PACKAGE + "."):
                continue  # CDK's own helper functions (log retention, custom resources)
            role = props["Role"]["Fn::GetAtt"][0]
            variables = (props.get("Environment") or {}).get("Variables") or {}
            found[logical] = {
                "handler": handler,
                "role": role,
                "environment": {k: str(self.resolve(v)) for k, v in variables.items()},
            }
        return found

    def statements_of(self, role: str) -> list[tuple[str, dict[str, Any]]]:
        """(where, statement) of every identity policy on the role, resolved."""
        found: list[tuple[str, dict[str, Any]]] = []
        for logical, resource in self.resources.items():
            props = resource.get("Properties") or {}
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in props.get("Roles", []):
                for index, statement in enumerate(props["PolicyDocument"]["Statement"]):
                    found.append((f"{logical}[{index}]", self.resolve(statement)))
        role_props = self.resources[role].get("Properties") or {}
        for policy in role_props.get("Policies") or []:
            for index, statement in enumerate(policy["PolicyDocument"]["Statement"]):
                found.append((f"{role}.{policy['PolicyName']}[{index}]", self.resolve(statement)))
        return found

    def state_machine_name(self) -> str:
        """The remediation machine's name (the one `STATE_MACHINE_ARN` names; the scan's
        machine, `ScanCycle…`, is started by the schedule and calls no AWS API itself)."""
        names = [
            self._name(logical)
            for logical, resource in self.resources.items()
            if resource["Type"] == "AWS::StepFunctions::StateMachine"
            and logical.startswith("Remediation")
        ]
        if len(names) != 1:
            raise LookupError(f"expected one state machine, found {names}")
        return names[0]


# --- what a call acts on --------------------------------------------------------------------


class UnknownResource(LookupError):
    pass


def resources_for(site: CallSite, environment: Mapping[str, str], template: Template) -> list[str]:
    """The resource ARNs the call is authorized against, in the function that makes it."""
    service, operation, owner = site.service, site.operation, site.enclosing_class
    machine = template.state_machine_name()
    prefix = f"{PARTITION}:{{}}:{REGION}:{ACCOUNT}"

    def env(name: str) -> str:
        value = environment.get(name)
        if not value:
            raise UnknownResource(f"{site.where} needs {name}, unset in this function")
        return value

    if service == "lambda":
        if operation == "ListFunctions":
            return ["*"]
        if operation == "Invoke" and "Canary" in owner and owner != "Canary":
            # The scan's repair invokes the deployed canary function (CANARY_FUNCTION).
            return [f"arn:{prefix.format('lambda')}:function:{env('CANARY_FUNCTION')}"]
        if operation == "Invoke" and site.module == f"{PACKAGE}.handlers.posture":
            # A posture pass on a big account continues in its next chunk: it invokes itself.
            return [f"arn:{prefix.format('lambda')}:function:{env('AWS_LAMBDA_FUNCTION_NAME')}"]
        return [SOME_FUNCTION]
    if service == "stepfunctions":
        if operation == "StartExecution" and not environment.get("STATE_MACHINE_ARN"):
            # Continue-as-new: a task starts its successor on the machine that runs it (the
            # stack's own; Tracker.start_execution is guarded on STATE_MACHINE_ARN).
            return [f"arn:{prefix.format('states')}:stateMachine:{machine}"]
        if operation in {"StartExecution", "ListExecutions"}:
            return [env("STATE_MACHINE_ARN")]
        if operation in {"StopExecution", "DescribeExecution", "GetExecutionHistory"}:
            return [f"arn:{prefix.format('states')}:execution:{machine}:some-pin-execution"]
        if operation.startswith("SendTask"):
            # Authorized against the state machine whose task issued the token.
            return [f"arn:{prefix.format('states')}:stateMachine:{machine}"]
    if service == "sns" and operation == "Publish":
        # The topics of the audiences the def names (the posture handler: the owner's); the
        # notifier's channels can be any audience.
        audiences = site.audiences if "Notifier" not in owner and site.audiences else AUDIENCES
        return [env(f"{a.upper()}_TOPIC_ARN") for a in audiences]
    if service == "dynamodb":
        variable = (
            "LEDGER_TABLE"
            # the canary locks and the scan's target records live in the ledger table
            if "Ledger" in owner or "CanaryLocks" in owner or "TargetRecords" in owner
            else "APPROVALS_TABLE"
            if "Approval" in owner
            else ""
        )
        if not variable:
            raise UnknownResource(
                f"{site.where}: which table does class {owner!r} use? (teach resources_for)"
            )
        return [f"arn:{prefix.format('dynamodb')}:table/{env(variable)}"]
    if service == "logs":
        group = env("AUDIT_LOG_GROUP") if "Audit" in owner else "/aws/lambda/some-pinned-function"
        base = f"arn:{prefix.format('logs')}:log-group:{group}"
        stream_level = operation in {"PutLogEvents", "CreateLogStream", "GetLogEvents"}
        return [f"{base}:log-stream:some-stream" if stream_level else f"{base}:*"]
    if service == "ssm" and operation.startswith("GetParameter"):
        # The owner's test events, named by a tag; the policy's documented prefix.
        return [f"arn:{prefix.format('ssm')}:parameter/rollforward/test-events/some-function"]
    if service == "cloudwatch":
        return ["*"]  # GetMetricData, DescribeAlarms: no resource-level permissions
    if service == "ecr":  # an image function's repository (posture)
        return [f"arn:{prefix.format('ecr')}:repository/some-repository"]
    if service == "sts" and operation == "AssumeRole":  # a member account's role (issue 12)
        # (adapters.accounts.member_role_arn: the member stack names it per region)
        return [f"arn:{PARTITION}:iam::{MEMBER_ACCOUNT}:role/{env('MEMBER_ROLE_NAME')}-{REGION}"]
    if service == "organizations" and operation.endswith("ForParent"):
        # The member StackSet's targets (MEMBER_OUS), walked down: the root and OUs.
        env("MEMBER_OUS")
        return [
            f"arn:{PARTITION}:organizations::{MEMBER_ACCOUNT}:{kind}/o-exampleorg1/{parent}"
            for kind, parent in (("root", "r-exam"), ("ou", "ou-exam-12345678"))
        ]
    if service == "organizations" and operation == "DescribeOrganization":
        return ["*"]  # no resource-level permissions
    if service == "cloudformation":  # the stack that created the function (posture)
        return [f"arn:{prefix.format('cloudformation')}:stack/some-stack/some-id"]
    raise UnknownResource(f"{site.where}: no resource model for {service}:{operation}")


# --- the check ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    function: str
    action: str
    resources: tuple[str, ...]
    sites: tuple[str, ...]
    granted_by: tuple[str, ...]  # statement per resource; empty when missing
    problem: str = ""


@dataclass(slots=True)
class Report:
    rows: list[Row] = field(default_factory=list)
    unused_grants: list[tuple[str, str, str]] = field(default_factory=list)  # fn, action, where
    unresolved: list[Unresolved] = field(default_factory=list)

    @property
    def missing(self) -> list[Row]:
        return [row for row in self.rows if row.problem]

    @property
    def failing_unused(self) -> list[tuple[str, str, str]]:
        return [u for u in self.unused_grants if u[1].startswith(FAIL_UNUSED)]


def _allowing(
    statements: Iterable[tuple[str, dict[str, Any]]], action: str, resource: str
) -> str | None:
    allowed: str | None = None
    for where, statement in statements:
        if statement_allows(statement, action, resource, REQUEST_CONTEXT):
            if statement.get("Effect") == "Deny":
                return None
            allowed = allowed or where
    return allowed


def _actions_of(statement: Mapping[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def check(document: Mapping[str, Any]) -> Report:
    template = Template(document)
    report = Report(unresolved=list(unresolved_sites()))
    for function, info in sorted(template.functions().items()):
        # (Lambda sets AWS_LAMBDA_FUNCTION_NAME in every function's environment)
        environment = {
            **info["environment"],
            "AWS_LAMBDA_FUNCTION_NAME": template.name_of(function),
        }
        statements = template.statements_of(info["role"])
        live = [
            s
            for s in reachable_sites(info["handler"])
            if (s.guard is None or environment.get(s.guard)) and s.action not in NEEDS_NO_PERMISSION
        ]
        grouped: dict[tuple[str, tuple[str, ...]], list[CallSite]] = {}
        for site in live:
            try:
                resources = tuple(resources_for(site, environment, template))
            except UnknownResource as error:
                report.rows.append(Row(function, site.action, (), (site.where,), (), str(error)))
                continue
            grouped.setdefault((site.action, resources), []).append(site)
        for (action, resources), sites in sorted(grouped.items()):
            granted = [_allowing(statements, action, r) for r in resources]
            refused = [r for r, g in zip(resources, granted, strict=True) if g is None]
            report.rows.append(
                Row(
                    function,
                    action,
                    resources,
                    tuple(sorted({s.where for s in sites})),
                    tuple(g for g in granted if g),
                    f"not granted on {', '.join(refused)}" if refused else "",
                )
            )
        used = {row.action for row in report.rows if row.function == function}
        for where, statement in statements:
            if statement.get("Effect") != "Allow":
                continue
            for action in _actions_of(statement):
                if action.startswith(REVERSE_CHECKED) and action not in used:
                    report.unused_grants.append((function, action, where))
    return report


# --- the document ---------------------------------------------------------------------------


def _cell(values: Iterable[str]) -> str:
    return "<br>".join(f"`{v}`" for v in values) or "—"


def render(report: Report) -> str:
    lines = [
        "# AWS call sites under lambdas/ and the IAM statements that allow them",
        "",
        "Generated by `python -m tests.infra.iam_call_sites` from a fresh synthesis (account "
        f"{ACCOUNT}, {REGION}); `tests/infra/test_iam_crosscheck.py` fails when a call is not "
        "granted, when a grant of lambda/states/sns/ssm/cloudwatch is used by no reachable "
        "code, or when the function / action / resource columns here are stale. How call sites "
        "are found and attributed: the docstring of `tests/infra/iam_call_sites.py`.",
        "",
        "| function | action | resource (as checked) | granted by | call sites |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in report.rows:
        granted = _cell(row.granted_by) if not row.problem else f"**MISSING**: {row.problem}"
        lines.append(
            f"| {row.function} | `{row.action}` | {_cell(row.resources)} | {granted} | "
            f"{_cell(row.sites)} |"
        )
    lines += [
        "",
        "## Granted, called by no reachable code",
        "",
        "Listed for lambda/states/sns/ssm/cloudwatch; an unused `states:` grant fails the test "
        "(the rights to start, stop or answer executions). The Lambda read statement is shared "
        "by the watching functions (read-only, on `function:*`).",
        "",
        "| function | action | statement |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {f} | `{a}` | `{w}` |" for f, a, w in report.unused_grants]
    return "\n".join(lines) + "\n"


def table_rows(text: str) -> set[tuple[str, str, str]]:
    """(function, action, resources) of a rendered document, the columns the test compares."""
    rows: set[tuple[str, str, str]] = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[1].startswith("`"):
            rows.add((cells[0], cells[1], cells[2]))
    return rows


def _lines(report: Report) -> Iterator[str]:
    for row in report.missing:
        yield f"MISSING  {row.function}: {row.action} ({row.problem}) at {', '.join(row.sites)}"
    for function, action, where in report.failing_unused:
        yield f"UNUSED   {function}: {action} granted by {where}, called by no reachable code"
    for site in report.unresolved:
        yield f"UNKNOWN  {site.module}:{site.line} {site.text}: which service?"


def main() -> int:
    from emulator.stack import synthesize

    report = check(synthesize())
    DOC.write_text(render(report))
    problems = list(_lines(report))
    # Written even with problems: the document then shows them (MISSING rows).
    print("\n".join(problems) or f"wrote {DOC.relative_to(ROOT)}: every call granted")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
