"""One botocore loader for every botocore session of this process.

Each new `boto3.Session` (an IAM user's, a Lambda environment's, a test's) builds its own
botocore `Loader`, whose cache is per instance: every session parsed the JSON service models,
endpoint rule sets and paginators again (tens of milliseconds per service, thousands of sessions
per suite). The embedded AWS and its tests share one loader per data path instead. Deployed code
never imports the emulator, so on AWS each session keeps its own loader, as botocore makes it.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_installed = False
_lock = threading.Lock()


class _OncePaths(list[str]):
    """A loader's search paths where appending a path already listed does nothing: every
    `boto3.Session` appends boto3's resource data path to its (now shared) loader."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def _shared(create_loader: Any) -> Any:
    @functools.lru_cache(maxsize=8)
    def create_shared_loader(search_path_string: str | None = None) -> Any:
        loader = create_loader(search_path_string)
        loader._search_paths = _OncePaths(loader.search_paths)
        return loader

    return create_shared_loader


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        import botocore.session

        botocore.session.create_loader = _shared(botocore.session.create_loader)
        _installed = True
