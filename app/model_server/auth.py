"""API-key authentication: the keys are the files of a mounted Kubernetes Secret (API_KEYS_DIR).

Every non-empty regular file in the directory holds one accepted key (surrounding whitespace is
ignored), so `primary` and `secondary` can both be valid while a key is rotated. The kubelet
updates a mounted Secret in place (it swaps a `..data` symlink), so the directory is re-read when
anything in it changed, checked at most once per RELOAD_INTERVAL_S: a rotation needs no restart.
"""
from __future__ import annotations

import hmac
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

RELOAD_INTERVAL_S = 1.0
MAX_KEY_BYTES = 4096
"""Longer files are not keys (a misplaced certificate, say) and are ignored with a warning."""
_BEARER = b"bearer "


class ApiKeys:
    """The accepted keys; `check(authorization_header_value)` says whether a request may pass."""

    def __init__(self, directory: Path, *, clock=time.monotonic) -> None:
        self.directory = directory
        self._clock = clock
        self._keys: tuple[bytes, ...] = ()
        self._signature: tuple = ()
        self._checked_at = -float("inf")
        self._reload()

    @property
    def count(self) -> int:
        self._maybe_reload()
        return len(self._keys)

    def check(self, authorization: bytes | None) -> bool:
        """True when the header is `Bearer <key>` for one of the keys.

        The presented token is compared with every key with hmac.compare_digest and the results are
        combined without an early exit, so the time taken does not tell which key (or how much of
        one) matched.
        """
        if not authorization or authorization[:7].lower() != _BEARER:
            self._maybe_reload()
            return False
        return self.check_token(authorization[7:].strip())

    def check_token(self, token: bytes) -> bool:
        """True when `token` is one of the keys (compared with every key, see `check`)."""
        self._maybe_reload()
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(token, key)
        return matched and bool(token)

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked_at < RELOAD_INTERVAL_S:
            return
        self._checked_at = now
        if self._scan() != self._signature:
            self._reload()

    def _scan(self) -> tuple:
        """What identifies the directory's content: each entry's name, inode, size and mtime."""
        entries = []
        try:
            with os.scandir(self.directory) as it:
                for entry in it:
                    try:
                        st = entry.stat()  # follows the Secret volume's symlinks
                    except OSError:
                        continue
                    entries.append((entry.name, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError as exc:
            return (("<unreadable>", str(exc)),)
        return tuple(sorted(entries))

    def _reload(self) -> None:
        self._signature = self._scan()
        keys = []
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            log.error("API_KEYS_DIR %s is unreadable (%s): every authenticated request is refused",
                      self.directory, exc)
            names = []
        for name in names:
            path = self.directory / name
            if name.startswith(".") or not path.is_file():  # the Secret volume's ..data bookkeeping
                continue
            try:
                raw = path.read_bytes()
            except OSError as exc:
                log.warning("API key file %s is unreadable: %s", name, exc)
                continue
            key = raw.strip()
            if len(key) > MAX_KEY_BYTES:
                log.warning("API key file %s holds %d bytes, more than %d: ignored", name, len(key), MAX_KEY_BYTES)
            elif key:
                keys.append(key)
        if len(keys) != len(self._keys) or keys != list(self._keys):
            log.info("API keys loaded from %s: %d key(s)", self.directory, len(keys))
        if not keys:
            log.error("API_KEYS_DIR %s holds no key: every authenticated request is refused", self.directory)
        self._keys = tuple(keys)
