"""Phase 1's listing: every function of an account and region with its published versions, and
the versions its aliases route traffic to. Reads only, through `LambdaControl` (paced by whoever
wires it).

The listing asks for every version (`FunctionVersion=ALL`): the same 50 items per call, so a
fleet of F functions and V published versions costs (F + V) / 50 calls. What it buys: a
function with no published version has no alias-routed version (an alias routes only to
published versions, or to `$LATEST`, which is read anyway), so its ListAliases is skipped — and
the scan can screen each published version on GetFunction before spending a shared-bucket call
on it (`rollforward.scan.screening`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rollforward.model import LATEST, QUALIFIER

if TYPE_CHECKING:
    from rollforward.ports import LambdaControl

PAGE_SIZE = 50  # ListFunctions returns at most 50 per page


@dataclass(frozen=True)
class ListedFunction:
    """One ListFunctions item: what the scan needs, and the marker of the page it was on."""

    function_arn: str  # unqualified
    name: str
    package_type: str
    page_marker: str | None = None  # Marker that lists this function's page again
    runtime: str = ""  # e.g. python3.12 ("" for image functions)
    architecture: str = ""  # x86_64 | arm64
    version: str = LATEST  # the listed item's version (an ALL listing lists each one)
    versions: tuple[str, ...] = ()  # the function's published versions (an ALL listing)
    last_modified: str = ""

    @property
    def has_managed_runtime(self) -> bool:
        """Image functions bring their own runtime; runtime management does not apply."""
        return self.package_type != "Image"

    @classmethod
    def from_listing(
        cls, item: Mapping[str, Any], page_marker: str | None = None
    ) -> ListedFunction:
        """From one `ListFunctions` item (AWS's shape, parsed defensively)."""
        arn = str(item["FunctionArn"])
        architectures = item.get("Architectures") or ["x86_64"]
        return cls(
            function_arn=":".join(arn.split(":")[:7]),
            name=str(item["FunctionName"]),
            package_type=str(item.get("PackageType") or "Zip"),
            page_marker=page_marker,
            runtime=str(item.get("Runtime") or ""),
            architecture=str(architectures[0]),
            version=str(item.get("Version") or LATEST),
            last_modified=str(item.get("LastModified") or ""),
        )


@dataclass(frozen=True)
class FunctionsPage:
    """One ListFunctions page; `next_marker` None on the last."""

    functions: tuple[ListedFunction, ...]
    next_marker: str | None = None


@dataclass(frozen=True)
class AliasRouting:
    """One alias: the version it points at and the versions it routes extra weight to."""

    name: str
    function_version: str
    additional_versions: tuple[str, ...] = ()


def list_functions(
    lambda_control: LambdaControl,
    *,
    start_marker: str | None = None,
    page_size: int = PAGE_SIZE,
    with_versions: bool = True,
) -> Iterator[ListedFunction]:
    """Every function of the account and region, page by page (lazily), each with the marker
    of the page its first item was on (where a scan that runs out of time resumes) and, with
    `with_versions`, its published versions (`versions`), gathered from the ALL listing.

    AWS lists a function's versions together; should a listing not, a function is yielded once
    per run of its items (read twice, never missed)."""
    marker = start_marker
    current: ListedFunction | None = None
    versions: list[str] = []
    while True:
        page = lambda_control.list_functions(
            marker=marker, max_items=page_size, all_versions=with_versions
        )
        for item in page.functions:
            if current is not None and item.function_arn == current.function_arn:
                if item.version != LATEST:
                    versions.append(item.version)
                continue
            if current is not None:
                yield replace(current, versions=tuple(versions))
            current = replace(item, version=LATEST, page_marker=marker)
            versions = [] if item.version == LATEST else [item.version]
        marker = page.next_marker
        if not marker:
            if current is not None:
                yield replace(current, versions=tuple(versions))
            return


def routed_versions(aliases: Iterable[AliasRouting]) -> list[str]:
    """Published versions the aliases route traffic to (main and weighted), ascending."""
    versions = {
        v for alias in aliases for v in (alias.function_version, *alias.additional_versions)
    }
    return sorted((v for v in versions if v != LATEST and QUALIFIER.match(v)), key=int)


def alias_versions(lambda_control: LambdaControl, function_arn: str) -> list[str]:
    """Published versions the function's aliases route traffic to; [] when the function is gone
    (the `$LATEST` read then closes its pin)."""
    aliases = lambda_control.aliases(function_arn)
    return [] if aliases is None else routed_versions(aliases)


__all__ = [
    "PAGE_SIZE",
    "AliasRouting",
    "FunctionsPage",
    "ListedFunction",
    "alias_versions",
    "list_functions",
    "routed_versions",
]
