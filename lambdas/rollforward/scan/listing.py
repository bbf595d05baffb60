"""Phase 1's listing: every function of an account and region, and the published versions its
aliases route traffic to. Reads only; paced by whoever wraps the client (`ratelimit.pacing`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from rollforward.live import TRANSIENT_CODES, TransientAwsError, error_code
from rollforward.model import LATEST, QUALIFIER

PAGE_SIZE = 50  # ListFunctions returns at most 50 per page


@dataclass(frozen=True)
class ListedFunction:
    """One ListFunctions item: what the scan needs, and the marker of the page it was on."""

    function_arn: str  # unqualified
    name: str
    package_type: str
    page_marker: str | None = None  # Marker that lists this function's page again

    @property
    def has_managed_runtime(self) -> bool:
        """Image functions bring their own runtime; runtime management does not apply."""
        return self.package_type != "Image"

    @classmethod
    def from_listing(
        cls, item: Mapping[str, Any], page_marker: str | None = None
    ) -> ListedFunction:
        arn = str(item["FunctionArn"])
        return cls(
            function_arn=":".join(arn.split(":")[:7]),
            name=str(item["FunctionName"]),
            package_type=str(item.get("PackageType") or "Zip"),
            page_marker=page_marker,
        )


def list_functions(
    lambda_client: Any, *, start_marker: str | None = None, page_size: int = PAGE_SIZE
) -> Iterator[ListedFunction]:
    """Every function of the client's account and region, page by page (lazily)."""
    marker = start_marker
    while True:
        kwargs: dict[str, Any] = {"MaxItems": page_size}
        if marker:
            kwargs["Marker"] = marker
        page = call(lambda_client.list_functions, kwargs)
        for item in page.get("Functions", []):
            yield ListedFunction.from_listing(item, marker)
        marker = page.get("NextMarker")
        if not marker:
            return


def alias_versions(lambda_client: Any, function_arn: str) -> list[str]:
    """Published versions the function's aliases route traffic to (main and weighted),
    ascending; [] when the function is gone (the `$LATEST` read then closes its pin)."""
    versions: set[str] = set()
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"FunctionName": function_arn}
        if marker:
            kwargs["Marker"] = marker
        try:
            page = call(lambda_client.list_aliases, kwargs)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return []
            raise
        for alias in page.get("Aliases", []):
            versions.add(str(alias.get("FunctionVersion", "")))
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            versions.update(str(version) for version in weights)
        marker = page.get("NextMarker")
        if not marker:
            break
    published = {v for v in versions if v != LATEST and QUALIFIER.match(v)}
    return sorted(published, key=int)


def call(operation: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    """Run one AWS request; throttling and 5xx that outlived botocore's retries become
    `TransientAwsError` (the scan stops: the account is busy, try at the next schedule)."""
    try:
        return operation(**kwargs)
    except ClientError as error:
        if error_code(error) in TRANSIENT_CODES:
            raise TransientAwsError(str(error)) from error
        raise


__all__ = ["PAGE_SIZE", "ListedFunction", "alias_versions", "call", "list_functions"]
