"""The runtime versions AWS has released, per (runtime, region, architecture).

AWS publishes no API that lists them; the emulator keeps its own catalog so a test or a demo can
say "AWS releases python3.12 v42 now, and it breaks 5% of invocations".
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

# Version names as AWS prints them in INIT_START: `python:3.12.v41`, `nodejs:22.v19`.
_FAMILY = {
    "python": "python",
    "nodejs": "nodejs",
    "java": "java",
    "ruby": "ruby",
    "dotnet": "dotnet",
}
DEFAULT_RUNTIMES = ("python3.11", "python3.12", "python3.13", "nodejs20.x", "nodejs22.x")
DEFAULT_ARCHITECTURES = ("x86_64", "arm64")
# Catalogs start mid-life, as real runtimes do: the first versions are v38, v39, v40.
FIRST_NUMBER = 38


def version_name(runtime: str, number: int) -> str:
    """`python3.12`, 41 -> `python:3.12.v41`; `nodejs22.x`, 7 -> `nodejs:22.v7`."""
    for prefix, family in _FAMILY.items():
        if runtime.startswith(prefix):
            rest = runtime[len(prefix) :].removesuffix(".x")
            return f"{family}:{rest}.v{number}"
    return f"{runtime}:v{number}"


def version_arn(region: str, runtime: str, architecture: str, number: int) -> str:
    digest = hashlib.sha256(f"{region}/{runtime}/{architecture}/{number}".encode()).hexdigest()
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    return f"arn:{partition}:lambda:{region}::runtime:{digest}"


@dataclass(frozen=True)
class RuntimeVersion:
    runtime: str
    region: str
    architecture: str
    number: int
    error_rate: float = 0.0
    # Median and p99 duration in ms; traffic draws from a log-normal with these.
    duration_p50_ms: float = 40.0
    duration_p99_ms: float = 120.0

    @property
    def name(self) -> str:
        return version_name(self.runtime, self.number)

    @property
    def arn(self) -> str:
        return version_arn(self.region, self.runtime, self.architecture, self.number)


@dataclass
class RuntimeCatalog:
    """Thread-safe; every runtime starts with a few healthy versions already released."""

    initial_versions: int = 3
    _versions: dict[tuple[str, str, str], list[RuntimeVersion]] = field(default_factory=dict)
    _by_arn: dict[str, RuntimeVersion] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def _series(self, runtime: str, region: str, architecture: str) -> list[RuntimeVersion]:
        key = (runtime, region, architecture)
        with self._lock:
            if key not in self._versions:
                self._versions[key] = []
                for number in range(FIRST_NUMBER, FIRST_NUMBER + self.initial_versions):
                    self._add(RuntimeVersion(runtime, region, architecture, number))
            return self._versions[key]

    def _add(self, version: RuntimeVersion) -> RuntimeVersion:
        self._versions[(version.runtime, version.region, version.architecture)].append(version)
        self._by_arn[version.arn] = version
        return version

    def latest(self, runtime: str, region: str, architecture: str) -> RuntimeVersion:
        return self._series(runtime, region, architecture)[-1]

    def versions(self, runtime: str, region: str, architecture: str) -> list[RuntimeVersion]:
        return list(self._series(runtime, region, architecture))

    def by_arn(self, arn: str) -> RuntimeVersion | None:
        with self._lock:
            return self._by_arn.get(arn)

    def release(
        self,
        runtime: str,
        region: str,
        architectures: tuple[str, ...] = DEFAULT_ARCHITECTURES,
        error_rate: float = 0.0,
        duration_p50_ms: float = 40.0,
        duration_p99_ms: float = 120.0,
    ) -> list[RuntimeVersion]:
        """AWS releases the next version of `runtime` in `region` (one per architecture)."""
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be within 0..1")
        released = []
        with self._lock:
            for architecture in architectures:
                series = self._series(runtime, region, architecture)
                released.append(
                    self._add(
                        RuntimeVersion(
                            runtime,
                            region,
                            architecture,
                            series[-1].number + 1,
                            error_rate,
                            duration_p50_ms,
                            duration_p99_ms,
                        )
                    )
                )
        return released
