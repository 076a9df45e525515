"""A least-recently-used map of byte strings, bounded in bytes: for audio made
once and said by many calls (a greeting's sentences, their μ-law form)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class ByteCache:
    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._data: OrderedDict[Hashable, bytes] = OrderedDict()
        self.size_bytes = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> bytes | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
            self.hits += 1
        return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Kept unless it is a quarter of the limit or more: one long reply must
        not push out everything every call says."""
        if key in self._data or len(value) > self.limit_bytes // 4:
            return
        self._data[key] = value
        self.size_bytes += len(value)
        while self.size_bytes > self.limit_bytes:
            _, old = self._data.popitem(last=False)
            self.size_bytes -= len(old)
