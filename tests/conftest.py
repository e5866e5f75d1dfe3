from __future__ import annotations

from pathlib import Path

import pytest

from offerwise.config import SimulationConfig
from offerwise.data.simulate import simulate
from offerwise.data.simulate_frames import write_simulation


def write_amexpert(folder: Path, transactions: str, items: str, demographics: str | None = None) -> Path:
    """A tiny folder in the AmExpert 2019 layout, written from inline CSV text."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customer_transaction_data.csv").write_text(transactions)
    (folder / "item_data.csv").write_text(items)
    if demographics is not None:
        (folder / "customer_demographics.csv").write_text(demographics)
    return folder


ITEMS_CSV = "item_id,brand,brand_type,category\n1,10,Established,Grocery\n2,11,Local,Grocery\n3,12,Established,Meat\n"
TX_HEADER = "date,customer_id,item_id,quantity,selling_price,other_discount,coupon_discount\n"


@pytest.fixture
def amexpert_dir(tmp_path: Path) -> Path:
    tx = TX_HEADER + ("2012-01-02,1,1,1,80.0,-20.0,0.0\n2012-01-03,1,2,2,50.0,0.0,-10.0\n2012-01-17,2,3,1,100.0,0.0,0.0\n")
    demo = "customer_id,age_range,marital_status,rented,family_size,no_of_children,income_bracket\n1,46-55,Married,0,5+,3+,4\n"
    return write_amexpert(tmp_path / "amex", tx, ITEMS_CSV, demo)


@pytest.fixture(scope="session")
def small_sim_config() -> SimulationConfig:
    return SimulationConfig(customers=120, items=40, weeks=60, categories=2, seed=3)


@pytest.fixture(scope="session")
def small_sim_dir(tmp_path_factory: pytest.TempPathFactory, small_sim_config: SimulationConfig) -> Path:
    out = tmp_path_factory.mktemp("sim")
    write_simulation(simulate(small_sim_config), out, small_sim_config)
    return out


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `offerwise run --data simulated --quick`, shared by the end-to-end and report tests."""
    from typer.testing import CliRunner

    from offerwise.cli import app

    out = tmp_path_factory.mktemp("quick-run") / "run"
    result = CliRunner().invoke(app, ["run", "--data", "simulated", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs) for every test of engine 'ray'; offerwise.runtime reuses it."""
    import os

    if os.environ.get("CI"):  # the Makefile installs Ray: CI must run these tests, not skip them
        import ray
    else:
        ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
