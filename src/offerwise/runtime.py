"""Where shard tasks run: in this process (`local`) or as Ray tasks (`ray`).

A stage that shards its work hands `Runtime.map` a module-level function and one argument per
shard; the function reads its shard's Parquet and writes its own output, so the engine can retry a
failed shard and a rerun can skip shards already written. Ray does the scheduling, the transport
of shared inputs (its object store) and the retries; nothing here reimplements them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from offerwise.config import OptionError, RuntimeConfig
from offerwise.errors import InputError

NO_RAY = "engine 'ray' needs Ray: pip install 'offerwise[ray]' (the Makefile's set-up installs it)."
# A shard task asks Ray for one CPU, so it runs one thread: Polars (and BLAS, torch via OpenMP) would
# otherwise start a thread per core in every task and the tasks of one node would fight over them.
ONE_THREAD = {name: "1" for name in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


class Runtime:
    def __init__(self, cfg: RuntimeConfig | None = None, *, progress: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg or RuntimeConfig()
        self.progress = progress or (lambda message: None)

    @property
    def engine(self) -> str:
        return self.cfg.engine

    def map(
        self, fn: Callable[..., Any], shards: Sequence[Any], *, shared: dict[str, Any] | None = None, what: str = "shards"
    ) -> list[Any]:
        """[fn(shard, **shared) for shard in shards], in order. `shared` goes to every task once
        (Ray: put in the object store once, not copied per task)."""
        shared = shared or {}
        if self.cfg.engine == "local":
            results = []
            for i, shard in enumerate(shards):
                results.append(fn(shard, **shared))
                self.progress(f"{what}: {i + 1}/{len(shards)}")
            return results
        ray = ensure_ray(self.cfg)
        refs = {name: ray.put(value) for name, value in shared.items()}
        task = ray.remote(num_cpus=1, max_retries=self.cfg.retries, retry_exceptions=False, runtime_env={"env_vars": ONE_THREAD})(fn)
        pending = [task.remote(shard, **refs) for shard in shards]
        done = 0
        remaining = list(pending)
        while remaining:  # ray.wait only to report progress; the results come back in order below
            ready, remaining = ray.wait(remaining, num_returns=1)
            done += len(ready)
            self.progress(f"{what}: {done}/{len(shards)} (ray)")
        return ray.get(pending)


def ensure_ray(cfg: RuntimeConfig):
    """The `ray` module, connected: to `cfg.address` ("auto": this machine's cluster) or to a local
    cluster of `cfg.workers` CPUs started here. An existing connection is reused."""
    try:
        import ray
    except ImportError:
        raise InputError(NO_RAY) from None
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if cfg.address is None:
            options["num_cpus"] = cfg.workers
            ray.init(**options)
            return ray
        if not _listening(cfg.address):  # Ray itself retries a silent address for minutes
            raise OptionError(f"The 'runtime.address' option ({cfg.address!r}): nothing answers there within {CONNECT_SECONDS} s.")
        try:
            ray.init(address=cfg.address, **options)
        except (ConnectionError, ValueError, TimeoutError) as exc:  # no cluster there, or not an address
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OptionError(f"The 'runtime.address' option ({cfg.address!r}): Ray cannot connect ({first})") from None
    return ray


CONNECT_SECONDS = 5


def _listening(address: str) -> bool:
    """Whether host:port (also ray://host:port) accepts a TCP connection within CONNECT_SECONDS;
    True for what is not host:port ("auto"), which Ray resolves and reports itself."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return True
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS):
            return True
    except OSError:
        return False
