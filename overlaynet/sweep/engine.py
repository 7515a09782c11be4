"""Run a sweep: plan the flows, split them into tasks, trace them in this process or on Dask.

Three ways to run, one answer: ``workers=1`` traces in this process (no Dask at all);
``workers=N`` starts a ``distributed.LocalCluster`` of N single-threaded worker processes
(nothing for the user to start); ``scheduler="tcp://host:8786"`` uses a running Dask
scheduler and whatever workers joined it, on any number of machines. The topology is
scattered to the workers once (broadcast) as its files' text; each worker assembles it on
first use (``task.network_for``). Tasks are pure, so Dask reschedules the tasks of a worker
that dies and the result does not change. Results are ordered as the plan is, never by
completion.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from overlaynet.errors import SweepError
from overlaynet.sweep.flows import Flow, FlowFilter, plan
from overlaynet.sweep.result import SweepResult
from overlaynet.sweep.task import FlowResult, TopologySource, network_for, trace_flows

__all__ = ["SweepResult", "chunks", "local_client", "run_sweep", "trace_all"]

Progress = Callable[[int, int], None]  # (flows done, flows in all)


def chunks(flows: Sequence[Flow], workers: int, *, size: int | None = None) -> list[list[Flow]]:
    """Split flows into tasks: about eight per worker, 4..256 flows each (small enough to
    balance and to lose little when a worker dies, large enough that Dask's ~1 ms per task
    stays small against the traces)."""
    if size is None:
        size = max(4, min(256, -(-len(flows) // max(1, workers * 8))))
    return [list(flows[i : i + size]) for i in range(0, len(flows), size)]


def run_sweep(
    paths: Sequence[str],
    *,
    flow_filter: FlowFilter | None = None,
    externals: Sequence[str] | None = None,
    exact_nodes: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    connect_timeout: float = 10.0,
) -> SweepResult:
    """Trace every source class × Service port of the topology in ``paths``."""
    source = TopologySource.read(paths, seed)
    network = network_for(source)  # also validates the topology here, before any worker starts
    kwargs: dict[str, Any] = {"flow_filter": flow_filter or FlowFilter(), "exact_nodes": exact_nodes}
    if externals is not None:
        kwargs["externals"] = tuple(externals)
    try:
        the_plan = plan(network.cluster, **kwargs)
    except ValueError as exc:
        raise SweepError(str(exc)) from exc
    results, engine = trace_all(source, the_plan.flows, workers=workers, scheduler=scheduler,
                                chunk_size=chunk_size, progress=progress, connect_timeout=connect_timeout)
    return SweepResult(tuple(str(p) for p in paths), source.digest, the_plan, tuple(results), engine)


def trace_all(
    source: TopologySource,
    flows: Sequence[Flow],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    connect_timeout: float = 10.0,
    client: Any = None,
) -> tuple[list[FlowResult], dict[str, Any]]:
    """Trace ``flows`` here (one worker, no scheduler) or on Dask; results in flow order,
    and a description of the engine that ran them. ``client``: a ``distributed.Client`` to
    use as it is (left open), e.g. to sweep again on workers that already hold the network."""
    if client is None and scheduler is None and (workers or 1) <= 1:
        return _run_here(source, flows, progress), {"mode": "embedded", "workers": 1}
    n = workers or os.cpu_count() or 1
    if client is not None:
        n = max(1, len(client.scheduler_info().get("workers", {})))
        engine: dict[str, Any] = {"mode": "client", "workers": n}
        return _submit(client, source, chunks(flows, n, size=chunk_size), len(flows), progress), engine
    tasks = chunks(flows, n, size=chunk_size)
    return _run_dask(source, tasks, len(flows), n, scheduler, progress, connect_timeout)


def _run_here(source: TopologySource, flows: Sequence[Flow], progress: Progress | None) -> list[FlowResult]:
    out: list[FlowResult] = []
    for chunk in chunks(flows, 1, size=64):
        out.extend(trace_flows(source, chunk))
        if progress is not None:
            progress(len(out), len(flows))
    return out


def local_client(workers: int) -> Any:
    """A ``distributed.Client`` on a new LocalCluster of single-threaded worker processes
    (closing the client does not stop the cluster: close ``client.cluster`` too)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=40)  # ":0": no fixed port to collide on
    return Client(cluster)


def _run_dask(
    source: TopologySource, tasks: list[list[Flow]], total: int, workers: int, scheduler: str | None,
    progress: Progress | None, connect_timeout: float,
) -> tuple[list[FlowResult], dict[str, Any]]:
    from distributed import Client

    if scheduler is None:
        client = local_client(workers)
        engine: dict[str, Any] = {"mode": "local-cluster", "workers": workers}
    else:
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc.__class__.__name__}: {exc})") from exc
        n = len(client.scheduler_info().get("workers", {}))
        if n == 0:
            try:
                client.wait_for_workers(1, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                client.close()
                raise SweepError(f"--scheduler {scheduler}: no worker joined within {connect_timeout:g} s") from exc
        engine = {"mode": "scheduler", "scheduler": scheduler, "workers": len(client.scheduler_info().get("workers", {}))}
    try:
        return _submit(client, source, tasks, total, progress), engine
    finally:
        cluster = client.cluster if scheduler is None else None
        client.close()
        if cluster is not None:
            cluster.close()


def _submit(client: Any, source: TopologySource, tasks: list[list[Flow]], total: int, progress: Progress | None) -> list[FlowResult]:
    """Run the tasks with a bounded number in flight (a few per worker), so the scheduler holds
    a window of the sweep, never millions of futures at once."""
    from distributed import as_completed

    [shipped] = client.scatter([source], broadcast=True)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    window = 4 * workers + 8
    done: list[list[FlowResult] | None] = [None] * len(tasks)
    index: dict[str, int] = {}
    pending = iter(range(len(tasks)))
    running = as_completed()

    def submit_next() -> None:
        i = next(pending, None)
        if i is not None:
            fut = client.submit(trace_flows, shipped, tasks[i], pure=True, retries=2)
            index[fut.key] = i
            running.add(fut)

    for _ in range(window):
        submit_next()
    count = 0
    for fut in running:
        chunk = fut.result()
        done[index[fut.key]] = chunk
        count += len(chunk)
        submit_next()
        if progress is not None:
            progress(count, total)
    return [r for chunk in done for r in (chunk or [])]
