"""A KMS key's key pair is made when it is first used, not when the key is created.

moto's `Key.__init__` generates an RSA-2048 private key for every key, even a SYMMETRIC_DEFAULT
one that never signs (every stack deploy creates one: ~60-80 ms of CPU each). Only
Sign, Verify and GetPublicKey read `private_key`; it is now generated on first read, as moto
generates it (`moto.kms.utils.generate_private_key` with the key's spec), and kept. A replica
(ReplicateKey, a shallow copy) still shares its primary's key pair. Nothing a caller can see
changes: the key's spec, usage and answers are as before.
"""

from __future__ import annotations

import threading
from typing import Any

_installed = False
_lock = threading.Lock()
_making = threading.Lock()


class _NotYetMade:
    """What `Key.__init__` stores instead of a key pair: made on first read."""

    __slots__ = ()


_NOT_YET_MADE = _NotYetMade()


def _deferred(key_spec: str) -> Any:
    return _NOT_YET_MADE


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.kms import models, utils

        generate = utils.generate_private_key

        def get_private_key(self: Any) -> Any:
            key = self.__dict__.get("_private_key", _NOT_YET_MADE)
            if key is _NOT_YET_MADE:
                with _making:  # two first uses at once make one key pair, not two
                    key = self.__dict__.get("_private_key", _NOT_YET_MADE)
                    if key is _NOT_YET_MADE:
                        key = generate(self.key_spec)
                        self.__dict__["_private_key"] = key
            return key

        def set_private_key(self: Any, key: Any) -> None:
            self.__dict__["_private_key"] = key

        replicate_key = models.KmsBackend.replicate_key

        def replicate_with_the_same_key_pair(self: Any, key_id: str, replica_region: str) -> Any:
            # a replica is a shallow copy: it shares the primary's key pair, as moto's always did
            get_private_key(self.keys[key_id])
            return replicate_key(self, key_id, replica_region)

        models.generate_private_key = _deferred  # type: ignore[attr-defined]
        models.KmsBackend.replicate_key = replicate_with_the_same_key_pair  # type: ignore[method-assign]
        models.Key.private_key = property(get_private_key, set_private_key)  # type: ignore[assignment]
        _installed = True
