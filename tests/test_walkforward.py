"""Walk-forward retraining: fold plans, no leak from a fold's future into its training, and stitched records
equal to each fold's test run alone, joined."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

from jaxtrade import cli
from jaxtrade.agents.learned_master import LearnedMaster, MasterNetwork, ensemble_proposals, network_proposals
from jaxtrade.agents.master import ConfidenceAllocator
from jaxtrade.config import load_config
from jaxtrade.data import load_data
from jaxtrade.data.splits import walk_forward_folds
from jaxtrade.data.synthetic import SyntheticConfig, generate
from jaxtrade.env.params import make_portfolio_params, range_params
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.backtest import HOLD, MIN_RATIO_BARS
from jaxtrade.evaluate.metrics import max_drawdown, mean_interval, sharpe
from jaxtrade.evaluate.policies import agent_policy
from jaxtrade.evaluate.rollout import walk_forward_policies
from jaxtrade.evaluate.shared_book import capped_name, capped_policy, master_policy, run_book, variants_policy
from jaxtrade.experiment import (
    Experiment,
    WalkForwardSpec,
    rebook,
    walk_forward_retrain,
    walkforward_summary,
)
from jaxtrade.experiment.fold_masters import check_master_config
from jaxtrade.experiment.walkforward import (
    _range_tables,
    _test_tables,
    inner_slices,
    plan_folds,
)
from jaxtrade.experiment.walkforward_book import (
    SHARED_ENSEMBLE,
    book_fold_drawdown,
    book_fold_sharpe,
    choose_seeds,
    seed_policy,
    seed_row,
    shared_books,
)
from jaxtrade.experiment.walkforward_report import group_rows
from jaxtrade.features import compute_features


@pytest.fixture(scope="module")
def daily():
    """Two synthetic symbols, 1,300 daily bars from 2000-01-03 (weekdays), for fold plans."""
    return generate(jax.random.key(0), SyntheticConfig(num_symbols=2, num_bars=1300)).data


def test_yearly_folds_tile_the_test_years_and_keep_the_embargo(daily):
    ts = daily.timestamps()
    first = int(np.searchsorted(ts, np.datetime64("2002-01-01")))
    folds = walk_forward_folds(daily, "yearly", first, embargo=30, window=24)
    years = [str(ts[f.test[0] + 1])[:4] for f in folds]
    assert years == ["2002", "2003", "2004"] and str(ts[-1])[:4] == "2004"
    assert folds[-1].test[1] == daily.num_bars  # the last fold runs to the data's end
    for a, b in zip(folds, folds[1:], strict=False):
        assert b.test[0] == a.test[1] - 1  # decided from the last marked bar of the fold before: no gap
    for f in folds:
        assert f.train == (0, f.test[0] + 1 - 30)  # expanding; 30 bars between the last training bar and the test
        assert str(ts[f.test[0] + 1])[5:] <= "01-07"  # each test period starts at the year's first bar
    rolling = walk_forward_folds(daily, "yearly", first, 24, 24, "rolling:1")
    assert all(str(ts[f.train[0]])[:4] == str(int(str(ts[f.test[0] + 1])[:4]) - 1) for f in rolling)
    equal = walk_forward_folds(daily, 3, first, 24, 24)
    sizes = [f.test[1] - f.test[0] - 1 for f in equal]
    assert len(equal) == 3 and max(sizes) - min(sizes) <= 1 and equal[0].test[0] == first - 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(folds="yearly", embargo=10), "embargo: need at least the observation window"),
    (dict(folds="monthly"), "'yearly' or a number of folds"),
    (dict(folds=2000), "a test period of 0 bar"),
    (dict(folds=2, scheme="rolling:x"), "not 'expanding' or 'rolling:YEARS'"),
    (dict(folds=2, first=20), "no training bars before its embargo"),
])
def test_bad_fold_plans_are_named(daily, kwargs, match):
    args = dict(first=800, embargo=24, window=24, scheme="expanding") | kwargs
    with pytest.raises(ConfigError, match=match):
        walk_forward_folds(daily, args["folds"], args["first"], args["embargo"], args["window"], args["scheme"])


def test_cli_walkforward_names_a_bad_scheme(capsys):
    assert cli.main(["walkforward", "--config", str(TINY), "--scheme", "sliding", "--no-cache"]) == 2
    assert "not 'expanding' or 'rolling:YEARS'" in capsys.readouterr().err


def test_a_master_config_that_does_not_fit_is_named():
    cfg = load_config(TINY)
    data = load_data(cfg.data, cfg.min_bars)
    exp = Experiment(cfg, data, compute_features(data, cfg.features))
    with pytest.raises(ConfigError, match="mode is 'joint'"):
        check_master_config(exp, replace(cfg, portfolio=replace(cfg.portfolio, mode="joint")))
    with pytest.raises(ConfigError, match=r"env.commission_bps: 20.0 master config, 10.0 walk-forward config"):
        check_master_config(exp, replace(cfg, env=replace(cfg.env, commission_bps=20.0)))
    check_master_config(exp, replace(cfg, split=replace(cfg.split, train_fraction=0.5)))  # the folds set ranges


def test_inner_slices_cut_the_training_range_and_bad_ones_are_named(daily):
    ts = daily.timestamps()
    folds = walk_forward_folds(daily, "yearly", int(np.searchsorted(ts, np.datetime64("2002-01-01"))), 30, 24)
    cut, slices = inner_slices(folds, 100, 30)
    for f, c, s in zip(folds, cut, slices, strict=True):
        assert c.test == f.test and c.train == (0, f.train[1] - 130) and s.test == (f.train[1] - 101, f.train[1])
        assert s.test[0] + 1 - c.train[1] == 30  # the embargo between the shortened training and its slice
    with pytest.raises(ConfigError, match="keeps 0 training bars before its inner slice of 600 bars"):
        inner_slices(folds, 600, 30, ts)
    for bad in (5, True, 2.5):
        with pytest.raises(ConfigError, match="walkforward inner"):
            WalkForwardSpec(inner=bad)
    score = np.array([[0.1, 0.7, np.nan], [np.nan, np.nan, np.nan], [-1.0, -2.0, -0.5]])
    assert choose_seeds(score).tolist() == [1, 0, 2]
    for bad in (2, 0, True, 1.5):  # seed groups must split the seeds equally
        with pytest.raises(ConfigError, match="walkforward groups: need an integer >= 1 that divides the 3 seeds"):
            WalkForwardSpec(seeds=(0, 1, 2), groups=bad)
    assert WalkForwardSpec(seeds=(0, 1, 2), groups=3).groups == 3


def test_seed_groups_report_their_rows_and_the_interval_over_them():
    """`group_rows` reads each group's row of the shared account's table and its per-fold Sharpe ratios; the
    interval is the t interval over the groups' stitched Sharpe ratios."""
    books = SimpleNamespace(judged="agents split, vol caps 15%",
                            seed_rows={"ensemble": "agents ensemble, vol caps 15%"},
                            groups={"ensemble 0+1, vol caps 15%": (0, 1), "ensemble 2+3, vol caps 15%": (2, 3)})
    rows = [{"policy": "ensemble 0+1, vol caps 15%", "sharpe": 0.5, "max_drawdown": -0.1},
            {"policy": "ensemble 2+3, vol caps 15%", "sharpe": 0.9, "max_drawdown": -0.2},
            {"policy": "equal weight, held", "sharpe": 1.1, "max_drawdown": -0.3}]
    per_fold = [{"shared_group0_sharpe": 1.0, "shared_group1_sharpe": np.nan},
                {"shared_group0_sharpe": 0.0, "shared_group1_sharpe": 2.0}]
    out = group_rows(SimpleNamespace(books=books), rows, per_fold)
    assert out["like"] == "agents ensemble, vol caps 15%" and [g["seeds"] for g in out["groups"]] == [[0, 1], [2, 3]]
    assert [(g["sharpe"], g["max_drawdown"], g["mean_fold_sharpe"]) for g in out["groups"]] == [
        (0.5, -0.1, 0.5), (0.9, -0.2, 2.0)]
    assert (out["sharpe_mean"], out["sharpe_low"], out["sharpe_high"]) == pytest.approx(mean_interval([0.5, 0.9]))
    assert out["sharpe_low"] < 0.5 and out["sharpe_high"] > 0.9
    for none in (None, SimpleNamespace(judged=books.judged, seed_rows={}, groups={})):  # no shared account; none
        assert group_rows(SimpleNamespace(books=none), rows, per_fold) == {}


def test_training_starts_lean_toward_each_folds_training_end():
    """`env.start_halflife`: each fold's training table (and `jaxtrade train`'s) weights its starts toward that
    range's own end, inside the range; 0 keeps every start once."""
    cfg = load_config(TINY)
    cfg = replace(cfg, env=replace(cfg.env, start_halflife=0.25))
    data = load_data(cfg.data, cfg.min_bars)
    exp = Experiment(cfg, data, compute_features(data, cfg.features))
    folds = plan_folds(exp, WalkForwardSpec(folds=2, seeds=(0,), min_train_bars=250))
    ready, half = np.asarray(exp.features.ready), exp.start_halflife_bars
    assert half == 0.25 * data.bars_per_year()
    tables = _range_tables(exp.params(), ready, [f.train for f in folds], halflife_bars=half)
    for i, f in enumerate(folds):
        uniform = range_params(exp.params(), ready, f.train)
        bars = np.asarray(tables.starts.bar[i])[:int(tables.starts.count[i])]
        assert tables.starts.count[i] == 4 * uniform.num_starts and f.train[0] <= bars.min() and bars.max() < f.train[1]
        young = np.mean(f.train[1] - bars <= half)  # about half the weight within one half-life of the end
        assert 0.45 < young < 0.55, young
    train = exp.train_params("train")
    end = exp.bars("train")[1]
    assert 0.45 < np.mean(end - np.asarray(train.starts.bar)[:int(train.starts.count)] <= half) < 0.55
    assert replace(exp, cfg=replace(cfg, env=replace(cfg.env, start_halflife=0.0))).train_params("train").num_starts \
        == train.num_starts // 4


def test_the_selected_row_trades_each_folds_chosen_seed():
    """Two seeds (untrained networks, different inits) on the shared account: the selected row is, fold by fold,
    the chosen seed's capped agents; the split row's equity is the mean of the two; in two seed groups each group's
    ensemble (of one seed) is that seed's capped agents."""
    cfg = load_config(TINY)
    cfg = replace(cfg, portfolio=replace(cfg.portfolio, agent_caps="vol"))
    data = load_data(cfg.data, cfg.min_bars)
    exp = Experiment(cfg, data, compute_features(data, cfg.features))
    spec = WalkForwardSpec(folds=2, seeds=(0, 1), min_train_bars=250)
    folds = plan_folds(exp, spec)
    test_params, has_start, _ = _test_tables(exp, folds)
    obs, _ = exp.env.reset(jax.random.key(0), exp.params())
    network = exp.network()
    inits = [network.init(jax.random.key(k), jax.tree.map(lambda x: x[None], obs)) for k in (11, 12)]
    net = jax.tree.map(lambda a, b: jnp.stack([jnp.stack([a, b]), jnp.stack([b, a])]), *inits)  # (F, K, ...)
    first = folds[0].test[0] + 1
    books = shared_books(exp, folds, test_params, has_start, net, (0, 1), first, None, chosen=np.array([1, 0]),
                         groups=2)
    fold = np.zeros(books.live.shape[0], int)
    fold[folds[1].test[0] + 1 - first:] = 1
    seed = lambda k: books.returns[f"agents seed {k}, vol caps 15%"]  # noqa: E731
    assert not np.allclose(seed(0), seed(1))
    # fold 0 chose seed 1 (the second init), fold 1 seed 0 (the second init too, its stack reversed)
    np.testing.assert_allclose(books.returns["agents selected, vol caps 15%"], np.where(fold == 0, seed(1), seed(0)))
    assert books.groups == {"ensemble 0, vol caps 15%": (0,), "ensemble 1, vol caps 15%": (1,)}
    for k in (0, 1):
        np.testing.assert_allclose(books.returns[f"ensemble {k}, vol caps 15%"], seed(k), rtol=1e-6, atol=1e-9)
    for f in (0, 1):
        m = books.live & (fold == f)
        equity = lambda r, m=m: np.cumprod(1 + r[m])  # noqa: E731
        np.testing.assert_allclose(equity(books.returns["agents split, vol caps 15%"]),
                                   (equity(seed(0)) + equity(seed(1))) / 2, rtol=1e-5)


@pytest.mark.slow  # > 30 s on 2 cores; `pytest -m 'not slow'` for a quick pass
def test_no_leak_and_stitched_records_join_each_folds_test_run(tmp_path):
    """Two folds x one seed on the tiny config, with a learned master per fold. Leak: every bar after fold 0's
    training end changed (prices x1.3 and their volumes) leaves fold 0's trained agent and master parameters
    bit-identical. Stitching: the stitched record of the agent and of buy-and-hold equals each fold's test
    backtest run alone (`walk_forward_policies` on the fold's test range), joined; so do the shared account's
    records of the agents and of the agents under the learned master (`run_book`). The report carries the folds,
    rows, seed intervals, targets (on the ensemble's shared account) and the phase-3 count. Training is augmented
    with a synthetic symbol (`augment`); every test and the masters see only the real ones."""
    cfg = load_config(TINY)
    cfg = replace(cfg, ppo=replace(cfg.ppo, num_updates=2, updates_per_chunk=2),
                  augment=replace(cfg.augment, symbols=1),  # training sees a synthetic crash-market symbol too
                  portfolio=replace(cfg.portfolio, agent_caps="vol", cap_vol=0.2))  # the judged row: capped agents
    master = replace(cfg, portfolio=replace(cfg.portfolio, hidden=16), ppo=replace(cfg.ppo, num_envs=8))
    data = load_data(cfg.data, cfg.min_bars)
    exp = Experiment(cfg, data, compute_features(data, cfg.features))
    spec = WalkForwardSpec(folds=2, seeds=(0,), min_train_bars=250, trials=3, inner=40)
    a = walk_forward_retrain(exp, spec, log=None, master=master)
    out = walkforward_summary(exp, spec, a, report=str(tmp_path / "wf.json"), log=lambda _: None)
    report = json.loads((tmp_path / "wf.json").read_text())
    assert {"folds", "portfolio", "targets", "phase3", "seconds", "master_targets"} <= set(report["meta"])
    assert len(report["meta"]["folds"]) == 2 and report["meta"]["trials"] == 3 and report["rows"]
    assert {"shared_ensemble_sharpe", "shared_judged_sharpe", "shared_equal_weight_sharpe",
            "shared_judged_max_drawdown", "shared_seeds_split_sharpe", "shared_seeds_select_sharpe",
            "shared_seeds_ensemble_max_drawdown"} <= set(report["meta"]["folds"][0])
    assert {r["policy"] for r in report["rows"]} >= {"agent seed 0", "agent ensemble", HOLD, "buy_and_hold_rules"}
    capped = capped_name(cfg.portfolio, SHARED_ENSEMBLE)
    assert capped == "agents ensemble, vol caps 20%" and a.books.judged == capped
    assert report["meta"]["targets_on"] == {"policy": capped, "symbol": "one account"}
    assert {c["target"] for c in report["meta"]["master_targets"]["agents + learned master seed 0"]} >= {
        "Sharpe >= 0.5", "win rate >= 52 %"}
    assert out["phase3"]["counted"] == 2
    # Inner slices: the last 40 bars of each fold's training range, an embargo on each side (the training ends
    # before it: the leak check below changes every bar from the shortened training end on).
    for f, (slice_, fold) in enumerate(zip(a.inner.slices, a.folds, strict=True)):
        assert slice_[1] - slice_[0] - 1 == 40 and slice_[0] + 1 - fold.train[1] == fold.test[0] + 1 - slice_[1] >= 24
        assert report["meta"]["inner"][f]["chosen_seed"] == 0 and set(report["meta"]["inner"][f]["sharpe"]) == {"0"}
    # The shared account again under other caps, on the same trained agents (`rebook`): the rows it shares with
    # the first run are the same; the capped row follows the new caps.
    with pytest.raises(ConfigError, match="trained learned masters"):
        rebook(exp, a, cfg.portfolio)
    equal = rebook(exp, replace(a, master_params=None), replace(cfg.portfolio, agent_caps="equal"))
    assert equal.books.judged == "agents ensemble, equal caps" and capped not in equal.books.returns
    for name in ("agents seed 0", "agents ensemble", "equal weight, held"):
        np.testing.assert_allclose(equal.books.returns[name], a.books.returns[name], rtol=1e-6, atol=1e-9)
    assert not np.allclose(equal.books.returns[equal.books.judged], a.books.returns[capped])
    # The seeds on split capital, and the seed chosen on the inner slice: with one seed, its capped agents'
    # account (checked against a run alone below).
    assert a.books.seed_rows == {"ensemble": capped, "split": "agents split, vol caps 20%",
                                 "select": "agents selected, vol caps 20%"}
    for capital, row in a.books.seed_rows.items():
        assert seed_row(replace(cfg.portfolio, seed_capital=capital)) == seed_row(cfg.portfolio, capital) == row
        if capital != "ensemble":
            np.testing.assert_allclose(a.books.returns[row], a.books.returns["agents seed 0, vol caps 20%"],
                                       rtol=1e-6, atol=1e-9)
    with pytest.raises(ConfigError, match="--inner BARS"):
        rebook(exp, replace(a, master_params=None, inner=None), replace(cfg.portfolio, seed_capital="select"))

    folds = a.folds
    train_end = folds[0].train[1]
    prices = np.asarray(data.prices).copy()
    prices[:, train_end:, :4] *= 1.3
    prices[:, train_end:, 4] *= 2.0
    changed = data.replace(prices=jnp.asarray(prices))
    b = walk_forward_retrain(Experiment(cfg, changed, compute_features(changed, cfg.features)), spec, log=None,
                             master=master)
    for trained in ("net_params", "master_params"):
        same = lambda f, t=trained: all(jax.tree.leaves(jax.tree.map(  # noqa: E731
            lambda x, y: bool(np.array_equal(x[f, 0], y[f, 0])), getattr(a, t), getattr(b, t))))
        assert same(0), trained  # fold 0 never read a bar past its training end
        assert not same(1), trained  # fold 1 trained on changed bars

    st, base = a.stitched, exp.params()
    ready = np.asarray(exp.features.ready)
    agent, hold = a.policies.index("agent seed 0"), a.policies.index(HOLD)
    for f, fold in enumerate(folds):
        params = range_params(base, ready, fold.test)
        net = jax.tree.map(lambda x, f=f: x[f, 0], a.net_params)
        alone = walk_forward_policies(exp.env, params, [agent_policy(exp.network(), net)], jax.random.key(2),
                                      hold=True)
        for p, j in ((agent, 0), (hold, 1)):
            for i, s in enumerate(np.asarray(alone.symbol[j])):
                n, start = int(alone.steps[j, i]), int(alone.start_bar[j, i])
                at = start + 1 - st.first + np.arange(n)
                assert (st.fold[at] == f).all() and st.live[p, s, at].all()
                np.testing.assert_allclose(st.returns[p, s, at], np.asarray(alone.step_returns[j, i, :n]),
                                           rtol=1e-5, atol=1e-7)
    assert st.live[agent].sum(1).min() == data.num_bars - st.first  # every bar out of sample, once

    # The shared account: the seed's agents on one book, alone and under the learned master, each fold run
    # alone (`run_book`), joined.
    assert [r["policy"] for r in out["portfolio"]][:3] == ["agents seed 0", "agents + master seed 0",
                                                           "agents + learned master seed 0"]
    assert all(isinstance(r["stops"], str) and r["trades"] >= 0 for r in out["portfolio"])
    cfg_env, network = exp.cfg.env, exp.network()
    rule = ConfidenceAllocator(total_limit=1.0, per_symbol_limit=cfg_env.max_position)
    learned = LearnedMaster(MasterNetwork(hidden=16), 1.0, master.portfolio.tolerance)
    for f, fold in enumerate(folds):
        params = make_portfolio_params(data, exp.features, cfg_env, exp.cfg.window, fold.test, 1.0)
        net, net_master = (jax.tree.map(lambda x, f=f: x[f, 0], p) for p in (a.net_params, a.master_params))
        policies = {"agents seed 0": (variants_policy(network, rule, cfg_env.max_position,
                                                      jnp.asarray((False, False))), (net, {})),
                    "agents + learned master seed 0": (master_policy(network_proposals(network), learned),
                                                       (net, net_master)),
                    capped: (capped_policy(ensemble_proposals(network), 1.0, 0.2),
                             jax.tree.map(lambda x, f=f: x[f], a.net_params)),
                    capped_name(cfg.portfolio, "agents seed 0"): (capped_policy(network_proposals(network), 1.0, 0.2),
                                                                  net)}
        alone = run_book(PortfolioEnv(actions=cfg_env.actions), params, policies, jax.random.key(3))
        for name, r in alone.items():
            at = int(r.start_bar) + 1 - st.first + np.arange(int(r.steps))
            assert a.books.live[at].all()
            np.testing.assert_allclose(a.books.returns[name][at], np.asarray(r.step_returns[:int(r.steps)]),
                                       rtol=1e-5, atol=1e-7)
        # Each seed's inner-slice Sharpe is its capped agents' account over the slice, run alone.
        inner = make_portfolio_params(data, exp.features, cfg_env, exp.cfg.window, a.inner.slices[f], 1.0)
        r = run_book(PortfolioEnv(actions=cfg_env.actions), inner, {"seed 0": (seed_policy(exp), net)},
                     jax.random.key(5))["seed 0"]
        np.testing.assert_allclose(a.inner.sharpe[f, 0], float(sharpe(r.step_returns[:int(r.steps)], a.bars_per_year)),
                                   rtol=1e-4)
        # The report's per-fold shared-account Sharpe is that fold's record's.
        rets = np.asarray(alone["agents seed 0"].step_returns[:int(alone["agents seed 0"].steps)])
        want = float(sharpe(jnp.asarray(rets), a.bars_per_year)) if rets.size >= MIN_RATIO_BARS else np.nan
        np.testing.assert_allclose(book_fold_sharpe(a, "agents seed 0")[f], want, rtol=1e-4, equal_nan=True)
        rets = np.asarray(alone[capped].step_returns[:int(alone[capped].steps)])
        np.testing.assert_allclose(book_fold_drawdown(a, capped)[f], float(max_drawdown(jnp.asarray(rets))),
                                   rtol=1e-4, atol=1e-7)
