"""A trained agent outside the backtest: exported to a small folder, loaded without the training data, and asked
what it would do on the next bar; on a backtest's bars it does what the backtest did."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from conftest import run_until

from jaxtrade import cli
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate import agent_policy
from jaxtrade.experiment.export import PARAMS_FILE, export_agent, load_agent


def test_exported_agent_decides_what_the_backtest_did_and_loads_only_from_its_folder(tiny_exp, tiny_setup,
                                                                                     tmp_path, capsys):
    run_until(tiny_setup, tmp_path / "run", stop_after=4)
    out = export_agent(tmp_path / "run", tmp_path / "agent", log=None)
    assert sorted(p.name for p in out.iterdir()) == ["agent.json", "params.msgpack"]
    agent = load_agent(out)
    assert agent.meta["source"]["update"] == 4

    # The backtest: symbol 0 greedy from its first test bar, stepped by the env on the full data.
    env, data = tiny_exp.env, tiny_exp.data
    params = tiny_exp.params("test")
    restored = jax.tree.map(np.asarray, agent.params)
    act = jax.jit(agent_policy(tiny_exp.network(), restored))
    step = jax.jit(env.step_env)
    first = int(np.flatnonzero(np.asarray(params.market.tradeable)[0])[0])
    from jaxtrade.env.generator import initial_state

    state = initial_state(0, first, params)
    one = data.select([data.symbols[0]])
    taken = []
    for _ in range(6):
        obs = jax.tree.map(lambda x: x[None], env.observe(state, params))  # a batch of one
        action = int(act(None, obs)[0])
        t = int(state.bar)
        upto = one.replace(prices=one.prices[:, :t + 1], valid=one.valid[:, :t + 1], day=one.day[:t + 1],
                           second=one.second[:t + 1], sentiment=one.sentiment[:, :t + 1], aux=one.aux[:, :t + 1])
        decided = agent.decide(upto, jax.tree.map(lambda x: x[None], state))
        assert decided["time"] == str(data.timestamps()[t]) and int(decided["action"][0]) == action, t
        taken.append(action)
        _, state, *_ = step(jax.random.key(0), state, action, params)
    assert np.allclose(decided["probabilities"].sum(-1), 1.0, atol=1e-5)
    assert len(set(taken)) > 1, taken  # measured [1, 6, 6, 6, 6, 6]: a buy, then the position's own actions

    # The CLI decides for a flat account, as decide does without a state, from a CSV of the same bars.
    flat = agent.decide(upto)
    frame = np.asarray(data.prices[0])
    csv = tmp_path / "latest.csv"
    rows = ["time,open,high,low,close,volume"] + [f"{ts},{o},{h},{lo},{c},{v}" for ts, (o, h, lo, c, v)
                                                  in zip(data.timestamps()[:t + 1], frame[:t + 1], strict=True)]
    csv.write_text("\n".join(rows) + "\n")
    assert cli.main(["act", "--agent", str(out), "--data", str(csv), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["action"] == flat["action"].tolist() and printed["time"] == decided["time"]
    np.testing.assert_allclose(printed["probabilities"], flat["probabilities"], rtol=1e-5)
    # A damaged folder is refused.
    (out / PARAMS_FILE).write_bytes((out / PARAMS_FILE).read_bytes()[:-8] + b"\x00" * 8)
    with pytest.raises(ConfigError, match="does not match the checksum"):
        load_agent(out)
    with pytest.raises(ConfigError, match="not an agent folder"):
        load_agent(tmp_path)
