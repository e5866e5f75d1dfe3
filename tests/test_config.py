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
        ("[model]\ndilations = []\n", "'model.dilations' option must be a non-empty list"),
        ("[model]\ndilations = [1, -2]\n", "'model.dilations'"),
        ("[model]\nhidden = []\n", "'model.hidden' option must be a non-empty list"),
        ("[model]\ndropout = 1.0\n", "The 'model.dropout' option must be < 1.0. Got 1.0 instead."),
        ("[data]\nunknown_items = 'ignore'\n", "The 'data.unknown_items' option must be 'drop' or 'error'. Got 'ignore' instead."),
        ("[panel]\nlag_window = [2]\n", "The 'panel.lag_window' option is not known"),
        ("[panel]\nfolds = 'two'\n", "The 'panel.folds' option must be a valid integer"),
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
