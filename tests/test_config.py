"""The config is validated when loaded and when overridden; a bad value is one InputError naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from offerwise.config import Config
from offerwise.errors import InputError


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[simulation]\ncustomers = 0\n", "The 'simulation.customers' option must be >= 1. Got 0 instead."),
        ("[simulation]\nitems = -3\n", "The 'simulation.items' option must be >= 1. Got -3 instead."),
        (
            "[optimize]\noffer_range_percentiles = [95, 5]\n",
            "'optimize.offer_range_percentiles' option must be two percentiles within [0, 100]",
        ),
        ("[optimize]\noffer_range_percentiles = [-1, 50]\n", "'optimize.offer_range_percentiles'"),
        ("[optimize]\noffer_range_percentiles = [5, 101]\n", "'optimize.offer_range_percentiles'"),
        ("[optimize]\noffer_range_percentiles = [50, 50]\n", "'optimize.offer_range_percentiles'"),
        ("[panel]\nlag_windows = []\n", "The 'panel.lag_windows' option must be a non-empty list of whole numbers >= 1. Got [] instead."),
        ("[panel]\nlag_windows = [2, 0]\n", "'panel.lag_windows' option must be a non-empty list"),
        ("[panel]\nlag_windows = [2, 2, 4]\n", "'panel.lag_windows' option lists a window more than once ([2, 2, 4])"),
        ("[model]\ndilations = []\n", "'model.dilations' option must be a non-empty list"),
        ("[model]\ndilations = [1, -2]\n", "'model.dilations'"),
        ("[model]\nhidden = []\n", "'model.hidden' option must be a non-empty list"),
        ("[model]\ndropout = 1.0\n", "The 'model.dropout' option must be < 1.0. Got 1.0 instead."),
        ("[data]\nunknown_items = 'ignore'\n", "The 'data.unknown_items' option must be 'drop' or 'error'. Got 'ignore' instead."),
        ("[panel]\nlag_window = [2]\n", "The 'panel.lag_window' option is not known"),
        ("[panel]\nfolds = 'two'\n", "The 'panel.folds' option must be a valid integer"),
        ("[panel]\nmax_customers = -3\n", "The 'panel.max_customers' option must be >= 1. Got -3 instead."),
        ("[panel]\nmax_customers = 0\n", "The 'panel.max_customers' option must be >= 1. Got 0 instead."),
        ("[panel]\ntop_categories = -1\n", "The 'panel.top_categories' option must be >= 1. Got -1 instead."),
        ("[panel]\ntop_categories = 0\n", "The 'panel.top_categories' option must be >= 1. Got 0 instead."),
        ("[simulation]\nseed = -1\n", "The 'simulation.seed' option must be >= 0. Got -1 instead."),
        ("[model]\nseed = -1\n", "The 'model.seed' option must be >= 0. Got -1 instead."),
        ("[model]\nthreads = -2\n", "The 'model.threads' option must be >= 0. Got -2 instead."),
        ("[model]\nbase_lr = -1.0\n", "The 'model.base_lr' option must be >= 0"),
        ("[model]\nmin_lr = -1e-6\n", "The 'model.min_lr' option must be >= 0"),
        ("[model]\nswa_lr = 0.0\n", "The 'model.swa_lr' option must be > 0"),
        ("[model]\ndevice = 'tpu'\n", "The 'model.device' option must be 'auto', 'cpu' or 'cuda'. Got 'tpu' instead."),
    ],
)
def test_bad_toml_value_names_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(InputError) as caught:
        Config.from_toml(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and "pydantic" not in str(caught.value)


def test_several_bad_keys_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[simulation]\ncustomers = 0\n[model]\nhidden = []\n")
    with pytest.raises(InputError, match=r"'simulation.customers'.*'model.hidden'"):
        Config.from_toml(path)


def test_good_files_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text("[optimize]\noffer_range_percentiles = [0, 100]\n[panel]\nlag_windows = [1]\n")
    cfg = Config.from_toml(path)
    assert cfg.optimize.offer_range_percentiles == (0.0, 100.0) and cfg.panel.lag_windows == [1]
    (tmp_path / "cfg.json").write_text(cfg.model_dump_json())
    assert Config.from_toml(tmp_path / "cfg.json") == cfg
    assert Config.from_toml(None) == Config()


def test_limits_keep_their_meaning_at_the_edge(tmp_path: Path) -> None:
    """None (no sample, every category, every core) and 0 (all cores; a learning-rate floor of 0) stay allowed."""
    path = tmp_path / "edge.toml"
    path.write_text(
        "[panel]\nmax_customers = 1\ntop_categories = 1\n[simulation]\nseed = 0\n[model]\nthreads = 0\nbase_lr = 0.0\nmin_lr = 0.0\n"
    )
    cfg = Config.from_toml(path)
    assert (cfg.panel.max_customers, cfg.panel.top_categories, cfg.model.threads, cfg.model.base_lr) == (1, 1, 0, 0.0)
    assert Config().panel.max_customers is None and Config().panel.top_categories is None and Config().model.threads is None


def test_unreadable_and_missing_files_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "syntax.toml").write_text("[panel\nfolds = 2\n")
    with pytest.raises(InputError, match="syntax.toml: invalid config"):
        Config.from_toml(tmp_path / "syntax.toml")
    with pytest.raises(InputError, match="config file not found"):
        Config.from_toml(tmp_path / "absent.toml")


def test_override_applies_and_validates() -> None:
    cfg = Config().override("simulation", customers=50, items=None)
    assert cfg.simulation.customers == 50 and cfg.simulation.items == Config().simulation.items
    assert cfg.panel == Config().panel
    assert Config().override("panel", folds=None) == Config()


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("simulation", {"customers": 0}, "The 'simulation.customers' option must be >= 1. Got 0 instead."),
        ("panel", {"folds": 0}, "The 'panel.folds' option must be >= 1. Got 0 instead."),
        ("panel", {"lag_windows": [0]}, "'panel.lag_windows' option must be a non-empty list"),
        ("optimize", {"offer_range_percentiles": (90, 10)}, "'optimize.offer_range_percentiles'"),
        ("model", {"epochs": 0, "hidden": []}, "'model.epochs' option must be >= 1"),
        ("model", {"epoch": 3}, "The 'model.epoch' option is not known"),
        ("modle", {"epochs": 3}, "'modle' is not a config section"),
    ],
)
def test_override_names_the_bad_key(section: str, values: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as caught:
        Config().override(section, **values)
    assert message in str(caught.value)


def test_override_is_needed_because_model_copy_does_not_validate() -> None:
    unchecked = Config().model_copy(update={"panel": Config().panel.model_copy(update={"folds": 0})})
    assert unchecked.panel.folds == 0  # what `model_copy` lets through
    with pytest.raises(InputError, match="'panel.folds'"):
        Config().override("panel", folds=0)
