"""The trackers behind the metrics hook, in their own offline modes (no network): MLflow's local store read back
through its client, Weights & Biases offline runs; `--track` on the command line."""

from __future__ import annotations

import numpy as np
import pytest

from jaxtrade.config import config_to_dict
from jaxtrade.env import REWARD_COMPONENTS
from jaxtrade.errors import ConfigError
from jaxtrade.experiment.tracking import flat_params, tracker
from jaxtrade.train import Metrics, TradingSummary
from jaxtrade.train.history import metrics_rows


@pytest.fixture(scope="module")
def rows():
    """Five updates' metrics rows as `fit` hands them to `on_metrics` (`metrics_rows` of a stacked chunk)."""
    K, C = 5, len(REWARD_COMPONENTS)
    rng = np.random.default_rng(0)
    scalar = lambda: rng.normal(size=K).astype(np.float32)  # noqa: E731
    metrics = Metrics(episodes=np.arange(K), reward=scalar(), policy_loss=scalar(), value_loss=scalar(),
                      entropy=scalar(), approx_kl=scalar(), clip_fraction=scalar(), grad_norm=scalar(),
                      learning_rate=np.full(K, 3e-4, np.float32),
                      env=TradingSummary(scalar(), rng.normal(size=(K, C)).astype(np.float32)))
    return [(row["env_steps"], row) for row in metrics_rows(metrics, 0, 1024, (0.0, 5.0))]


def test_mlflow_records_every_update_and_the_config(rows, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow's local file store, offline
    config = {"ppo": {"learning_rate": 3e-4, "num_envs": 8}, "data": {"symbols": ["A", "B"]}}
    with tracker("mlflow", tmp_path / "run", config, name="tiny") as log:
        for step, row in rows:
            log(step, row)
    client = mlflow.tracking.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("jaxtrade").experiment_id])
    assert run.info.run_name == "tiny" and run.info.status == "FINISHED"
    assert run.data.params == {"ppo.learning_rate": "0.0003", "ppo.num_envs": "8", "data.symbols": "['A', 'B']"}
    history = client.get_metric_history(run.info.run_id, "reward")
    assert [m.step for m in history] == [step for step, _ in rows]
    assert [m.value for m in history] == pytest.approx([row["reward"] for _, row in rows])
    components = client.get_metric_history(run.info.run_id, "reward_components/0")  # a list: one per element
    assert len(components) == len(rows)


def test_wandb_offline_run_holds_the_config_and_the_last_metrics(rows, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = {"ppo": {"learning_rate": 3e-4}}
    with tracker("wandb", tmp_path / "run", config, name="tiny") as log:
        for step, row in rows:
            log(step, row)
        run = wandb.run
        assert run.config["ppo"]["learning_rate"] == 3e-4 and run.name == "tiny"
        assert run.summary["reward"] == pytest.approx(rows[-1][1]["reward"])
        assert run.summary["update"] == rows[-1][1]["update"]
    (offline,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    assert next(offline.glob("run-*.wandb")).stat().st_size > 0  # for a later `wandb sync`


def test_a_tracker_that_cannot_start_is_one_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with pytest.raises(ConfigError, match=r"--track mlflow: could not start the run \(MLFLOW_TRACKING_URI=http://"
                                          r"127.0.0.1:9\): MlflowException: .*point MLFLOW_TRACKING_URI at"):
        with tracker("mlflow", tmp_path, {}):
            pytest.fail("the body runs only when the run started")


def test_a_tracker_that_fails_mid_run_warns_once_and_training_goes_on(rows, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    calls = []

    def gone(metrics, step):  # the server went away after the second update
        calls.append(step)
        if len(calls) > 2:
            raise ConnectionError("connection refused")
        real(metrics, step=step)

    real = mlflow.log_metrics
    monkeypatch.setattr(mlflow, "log_metrics", gone)
    with pytest.warns(RuntimeWarning, match="logging failed at env step .* training goes on") as caught:
        with tracker("mlflow", tmp_path / "run", {"a": 1}, name="gone") as log:
            for step, row in rows:
                log(step, row)
    assert len(caught) == 1 and len(calls) == 3  # one warning, no more tries after the failure
    client = mlflow.tracking.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("jaxtrade").experiment_id])
    assert run.info.status == "FINISHED" and len(client.get_metric_history(run.info.run_id, "reward")) == 2


def test_tracker_errors_and_params():
    with pytest.raises(ConfigError, match="not one of"), tracker("tensorboard", None, {}):
        pass
    with tracker(None, None, {}) as log:
        assert log is None
    flat = flat_params(config_to_dict(__import__("jaxtrade").load_config("configs/quickstart.yaml")))
    assert flat["env.reward.drawdown"] == 0.3 and flat["agent.mlp_hidden"] == "[64, 64]"


def test_cli_train_takes_track(monkeypatch):
    from jaxtrade import cli

    seen = {}
    monkeypatch.setattr("jaxtrade.experiment.load_experiment", lambda cfg, cache: "exp")
    monkeypatch.setattr("jaxtrade.experiment.train", lambda exp, *a, **k: seen.update(k))
    assert cli.main(["train", "--config", "configs/tiny.yaml", "--checkpoint-dir", "x", "--track", "mlflow"]) == 0
    assert seen == {"track": "mlflow"}
    with pytest.raises(SystemExit):
        cli.main(["train", "--config", "configs/tiny.yaml", "--track", "comet"])
