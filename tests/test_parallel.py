"""Data parallel training: 4 devices in one process, and 2 processes x 2 devices (jax.distributed on
localhost), follow the single-device learning curve for the same total batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("parallel_run.py")
CURVES = ("episode_return", "reward", "policy_loss", "value_loss", "entropy", "approx_kl", "grad_norm")


def env_with(devices: int) -> dict:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    return {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}


def parse(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def assert_same_curve(a: dict, b: dict) -> None:
    for name in CURVES:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        assert x.shape == (4,)
        np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(b["actor_kernel"], a["actor_kernel"], rtol=1e-4, atol=1e-6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # > 30 s on 2 cores; `pytest -m 'not slow'` for a quick pass
def test_data_parallel_runs_follow_the_one_device_learning_curve(tmp_path):
    local = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path / "local")], env=env_with(4),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = free_port()
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path / "dist"), str(port), str(i), "2"],
                              env=env_with(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=900) for p in (local, *procs)]
    for p, (_, err) in zip((local, *procs), outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    one_process, two_processes = parse(outs[0][0]), parse(outs[1][0])

    assert one_process["devices"] == 4
    one, four = one_process["one"], one_process["all"]
    assert one["env_state_devices"] == 1 and four["env_state_devices"] == 4
    assert four["env_state_shard"] == [16 // 4]  # each device steps its own quarter of the envs
    assert_same_curve(one, four)
    assert one_process["resumed_equal"]  # a sharded run resumes from its checkpoint to the same parameters
    assert not np.allclose(one["value_loss"][0], one["value_loss"][-1])  # it trained: the curve is not flat

    assert two_processes["processes"] == 2 and two_processes["devices"] == 4
    assert two_processes["all"]["env_state_devices"] == 4
    assert_same_curve(one, two_processes["all"])
