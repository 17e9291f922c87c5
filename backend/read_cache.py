"""The hot reads' answers kept ready to send, keyed on the state of what they show.

A read first asks the database for its key: the (id, version) of every run its answer shows (runs.version,
which migration 0010's triggers change with every change of a run, its tags or its packed series, whichever
process writes it), plus the request's own parameters. An answer built once is kept, compressed as it was
sent, under that key: a repeat read costs the key's query and the sending of bytes. Nothing is ever
invalidated by hand, so no write path can be forgotten: a changed run has a new version, hence a new key, and
the old answer is simply never asked for again (it ages out of the bounded LRU).

A runs list's key (the page's runs, among all those its filters match) costs a query over every matching run.
`PageKeys` remembers it per request under the runs' generation (migration 0012: a count of committed changes of
runs, in commit order), so that while no run changed a list costs one read of that count.

The key also makes an ETag (hashed with a random salt of this process, so that a key seen by another server
or before a restart never matches): a client that sends it back in If-None-Match gets 304 and no body, without
the answer being built or even kept.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["PageKeys", "ReadCache", "etag", "matches"]

_SALT = os.urandom(16)


def etag(key: Hashable) -> str:
    """A strong ETag for the answer of this key (the key holds everything the bytes depend on)."""
    return '"' + hashlib.blake2b(repr(key).encode(), key=_SALT, digest_size=12).hexdigest() + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header names this ETag (or is *); weak forms (W/"...") compare equal."""
    if not if_none_match:
        return False
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return "*" in candidates or tag in candidates


class ReadCache:
    """A thread-safe LRU of answers (bytes, content encoding), bounded by their total size."""

    def __init__(self, max_bytes: int = 64 * 2**20):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[bytes, str | None]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> tuple[bytes, str | None] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: Hashable, body: bytes, encoding: str | None) -> None:
        if len(body) > self.max_bytes // 4:  # one answer never pushes out most of the others
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old[0])
            self._entries[key] = (body, encoding)
            self._size += len(body)
            while self._size > self.max_bytes:
                _, (dropped, _) = self._entries.popitem(last=False)
                self._size -= len(dropped)

    def __len__(self) -> int:
        return len(self._entries)


class PageKeys:
    """A thread-safe LRU of (request, generation) -> the key of its answer: the key's query skipped while no run
    has changed. An entry of an older generation is never asked for again and ages out."""

    def __init__(self, max_entries: int = 1024):
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Hashable] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, request: Hashable, generation: int) -> Hashable | None:
        with self._lock:
            key = self._entries.get((request, generation))
            if key is not None:
                self._entries.move_to_end((request, generation))
            return key

    def put(self, request: Hashable, generation: int, key: Hashable) -> None:
        with self._lock:
            self._entries[(request, generation)] = key
            self._entries.move_to_end((request, generation))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
