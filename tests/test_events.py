"""TensorBoard event files: the hand-written encoding read back by TensorBoard's own reader."""

from __future__ import annotations

import pytest

from jaxtrade.train.events import EVENTS_FILE, append_events, crc32c, rewrite_events


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    assert crc32c(b"") == 0


def test_tensorboard_reads_every_scalar(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows = [{"update": u, "env_steps": 1000 * u, "loss": 1.0 / u, "episodes": 3 * u, "note": "skipped",
             "big": 2 ** 40 + u} for u in (1, 2, 3)]
    append_events(tmp_path, rows[:2], tag=lambda k: f"train/{k}")
    append_events(tmp_path, rows[2:], tag=lambda k: f"train/{k}")  # appended: one header, three events
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == ["train/big", "train/episodes", "train/loss"]
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [1000, 2000, 3000]
    assert [e.value for e in loss] == pytest.approx([1.0, 0.5, 1 / 3], rel=1e-6)
    assert [e.value for e in acc.Scalars("train/episodes")] == [3.0, 6.0, 9.0]

    rewrite_events(tmp_path, rows[:1], tag=lambda k: k)  # a resume keeps update 1 only
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss")] == [1000]
    rewrite_events(tmp_path, [])
    assert not (tmp_path / EVENTS_FILE).exists()
