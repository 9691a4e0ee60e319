"""TensorBoard event files of scalar metrics, written without TensorFlow.

`fit` writes every update's metrics to `DIR/events.out.tfevents.jaxtrade` beside
`metrics.jsonl` (`tensorboard --logdir DIR`), step = env steps. The file is the
TFRecord framing TensorBoard reads: each record is its length (uint64), a masked
CRC-32C of the length, the bytes, a masked CRC-32C of the bytes; each record is an
`Event` protobuf (wall_time = 1, step = 2, file_version = 3, summary = 5) whose
`Summary` holds `Value`s (tag = 1, simple_value = 2), hand-encoded here.
The file follows `metrics.jsonl` after a crash: `rewrite_events` rebuilds it from
the rows a resume keeps.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from jaxtrade.files import replace_file

EVENTS_FILE = "events.out.tfevents.jaxtrade"  # TensorBoard reads every file whose name holds "tfevents"
NOT_SCALARS = ("update", "env_steps", "wall_time")  # the fields of a metrics row that are not plotted


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli polynomial, reflected
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # int64 as protobuf writes it (two's complement)
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def event(step: int, wall_time: float, scalars: dict[str, float] | None = None, file_version: str | None = None
          ) -> bytes:
    """One serialised `Event` protobuf: scalars as `simple_value`s, or the file-version header."""
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3 | 0) + _varint(step)
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if scalars:
        values = b"".join(_bytes_field(1, _bytes_field(1, tag.encode()) + _varint(2 << 3 | 5)
                                       + struct.pack("<f", value)) for tag, value in scalars.items())
        out += _bytes_field(5, values)
    return out


def record(data: bytes) -> bytes:
    """TFRecord framing of one serialised event."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked(crc32c(length))) + data + struct.pack("<I", _masked(crc32c(data)))


def _scalars(row: dict, tag: Callable[[str], str], skip: tuple[str, ...]) -> dict[str, float]:
    return {tag(k): float(v) for k, v in row.items() if k not in skip and isinstance(v, int | float)}


def _events(rows: Iterable[dict], head: bool, step_key: str, tag: Callable[[str], str], skip: tuple[str, ...]
            ) -> bytes:
    """The records of one event per metrics row (its numbers as scalars, tagged by `tag`), after the file's
    header record when `head`."""
    now = time.time()
    rows = list(rows)
    start = rows[0].get("wall_time", now) if rows else now
    first = record(event(0, start, file_version="brain.Event:2")) if head else b""
    # Each row's own wall time (rows written before wall times were stored get the writing time).
    return first + b"".join(record(event(int(r[step_key]), float(r.get("wall_time", now)), _scalars(r, tag, skip)))
                            for r in rows)


def append_events(directory: str | Path, rows: Iterable[dict], step_key: str = "env_steps",
                  tag: Callable[[str], str] = lambda k: k, skip: tuple[str, ...] = NOT_SCALARS) -> Path:
    """Append one event per metrics row (its numbers as scalars, tagged by `tag`) and force them to disk."""
    path = Path(directory) / EVENTS_FILE
    data = _events(rows, not (path.exists() and path.stat().st_size), step_key, tag, skip)
    with path.open("ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


def rewrite_events(directory: str | Path, rows: Iterable[dict], step_key: str = "env_steps",
                   tag: Callable[[str], str] = lambda k: k, skip: tuple[str, ...] = NOT_SCALARS) -> None:
    """Replace the event file whole with the given rows (a resume's kept history); no file when there are none."""
    path = Path(directory) / EVENTS_FILE
    rows = list(rows)
    if rows:
        replace_file(path, _events(rows, True, step_key, tag, skip))
    else:
        path.unlink(missing_ok=True)


__all__ = ["EVENTS_FILE", "append_events", "crc32c", "event", "record", "rewrite_events"]
