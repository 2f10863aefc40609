"""``flobc bench round``: FLoBC and Flower on one identical workload, side by side.

The workload is :mod:`flobc.bench.round_workload` (digits, a two-layer CNN, 7 trainers,
1 epoch SGD lr 0.05 batch 32, 10 rounds, FedAvg, every update accepted, uniform trust).

* FLoBC: 3 validators + 7 trainers as processes over loopback (as ``flobc demo``); a
  round is the block-time gap between two released versions; the whole run goes from
  ``net up`` to the last version's release.
* Flower 1.42: a local SuperLink in simulation mode (Ray backend, 1 CPU per ClientApp) and
  ``flwr run`` of :mod:`flobc.bench.flower_app`; a round goes from ``configure_train`` to
  the end of the centralized evaluation; the whole run from SuperLink start to the return
  of ``flwr run``. (Flower's deployment engine without Ray starts one ClientApp process per
  message and lost its task tokens under load on 2 cores; simulation is what ran reliably.)

Runs alternate sides (``--runs N``); the JSON holds every run, medians and the ratios
median FLoBC / median Flower. Every process is stopped by pid: Flower's (Ray included)
are found by a marker in their environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from flobc.bench.round_workload import workload_config
from flobc.orchestration.critical_path import path_medians
from flobc.orchestration.round_profile import profile_medians

APP_TOML = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "flobc-bench-round"
version = "1.0.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "flobc"

[tool.flwr.app.components]
serverapp = "flobc.bench.flower_app:server"
clientapp = "flobc.bench.flower_app:client"

[tool.flwr.app.config]
num-server-rounds = 10
num-clients = 7
out-file = "result.json"
"""


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ------------------------------------------------------------------------- FLoBC side


def flobc_run(work: Path, rounds: int, trainers: int, timeout: float) -> dict[str, Any]:
    """One FLoBC run as processes; per-round block-time gaps and where they went."""
    from flobc.orchestration.critical_path import critical_path, read_logs
    from flobc.orchestration.fl_setup import create_fl_network
    from flobc.orchestration.processes import StartError, started
    from flobc.orchestration.round_profile import round_profile
    from flobc.orchestration.watch import NotReached, Watcher

    cfg = workload_config(trainers)
    netdir = work / "flobc"
    create_fl_network(netdir, cfg)
    t0 = time.monotonic()
    try:
        with started(netdir, timeout=180) as net:
            watcher = Watcher(cfg, net.validators)
            watcher.follow(1, t0 + timeout, poll_s=0.05)
            cpu0, own0, wall0 = net.cpu_seconds(), time.process_time(), time.monotonic()
            watcher.follow(rounds, t0 + timeout, poll_s=0.05)
            cpu1, own1, wall1 = net.cpu_seconds(), time.process_time(), time.monotonic()
            whole = wall1 - t0
            url = next(iter(net.validators.values()))
            profile = round_profile(url, rounds)
            path = critical_path(url, range(2, rounds + 1), read_logs(netdir / "run"))
            roles = {e.name: e.role for e in net.nodes}
    except StartError as exc:
        raise click.ClickException(str(exc)) from exc
    except NotReached:
        raise click.ClickException(f"FLoBC: no {rounds} versions in {timeout}s") from None
    recs = [r for r in watcher.records if 1 <= r.version <= rounds]
    return {
        "whole_s": whole,
        "rounds": [
            {"round": r.version, "round_s": r.round_ms / 1000, "accuracy": r.accuracy} for r in recs
        ],
        "initial_accuracy": watcher.records[0].accuracy,
        "final_accuracy": recs[-1].accuracy,
        "profile": profile,
        "critical_path": path,
        "trainer_fit_s": _trainer_fits(netdir / "run"),
        "cpu_per_round_s": _cpu_per_round(
            roles, cpu0, cpu1, own1 - own0, wall1 - wall0, rounds - 1
        ),
    }


def _cpu_per_round(
    roles: dict[str, str],
    before: dict[str, float],
    after: dict[str, float],
    watcher: float,
    wall: float,
    n: int,
) -> dict[str, float]:
    """CPU seconds per steady round (versions 2..n) by role, summed over the processes,
    against the wall time per round: where the 2 cores went. ``watcher`` is this process
    (fetching every version and scoring it on the test set, as Flower's server does)."""
    per: dict[str, float] = {"validators": 0.0, "trainers": 0.0}
    for name, cpu in after.items():
        per[f"{roles[name]}s"] += (cpu - before.get(name, 0.0)) / n
    return {**per, "watcher": watcher / n, "wall": wall / n}


def _trainer_fits(run_dir: Path) -> list[float]:
    """Seconds of each trainer's training (+ upload) as its log reports it."""
    import re

    fits: list[float] = []
    for log in sorted(run_dir.glob("trainer-*.log")):
        fits += [float(m) for m in re.findall(r"trained ([0-9.]+)s", log.read_text())]
    return fits


# ------------------------------------------------------------------------- Flower side


def _marked(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``marker`` (all Flower and Ray
    processes this run started, however they detached)."""
    found = []
    needle = f"FLOBC_BENCH_ROUND={marker}".encode()
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                if needle in (p / "environ").read_bytes().split(b"\0"):
                    found.append(int(p.name))
            except OSError:
                continue
    return found


def _stop_marked(marker: str, first: int) -> int:
    """SIGTERM the SuperLink, give it 10 s, then SIGKILL whatever this run left."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(first, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _marked(marker):
        time.sleep(0.3)
    left = _marked(marker)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


def flower_run(work: Path, rounds: int, clients: int, timeout: float, port: int) -> dict[str, Any]:
    """One Flower run: SuperLink (simulation) + ``flwr run`` of the bench App."""
    app, home = work / "flower_app", work / "flwr_home"
    app.mkdir(parents=True, exist_ok=True)
    home.mkdir(exist_ok=True)
    (app / "pyproject.toml").write_text(APP_TOML)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "local"\n\n[superlink.local]\n'
        f'address = "127.0.0.1:{port}"\ninsecure = true\n'
    )
    result = work / "flower_result.json"
    result.unlink(missing_ok=True)
    marker = f"{os.getpid()}-{time.time_ns()}"
    src = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env.update(
        FLOBC_BENCH_ROUND=marker,
        FLWR_HOME=str(home),
        RAY_TMPDIR=tempfile.mkdtemp(prefix="flobc-ray-"),  # short: Ray's socket paths
        FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
        FLWR_DISABLE_UPDATE_CHECK="1",
        FLWR_TELEMETRY_ENABLED="0",
        PYTHONPATH=os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p),
    )
    bindir = Path(sys.executable).parent
    link_cmd = [str(bindir / "flower-superlink"), "--insecure", "--simulation"]
    link_cmd += ["--isolation", "subprocess", "--port", str(port)]
    link_cmd += ["--disable-runtime-dependency-installation"]
    t0 = time.monotonic()
    with open(work / "superlink.log", "w") as log:
        link = subprocess.Popen(link_cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                if link.poll() is not None or time.monotonic() - t0 > 60:
                    msg = f"SuperLink did not start: {work}/superlink.log"
                    raise click.ClickException(msg) from None
                time.sleep(0.1)
        fed = f"num-supernodes={clients} client-resources-num-cpus=1"
        run_cfg = f"out-file='{result}' num-clients={clients} num-server-rounds={rounds}"
        cmd = [str(bindir / "flwr"), "run", str(app), "local", "--federation-config", fed]
        cmd += ["--run-config", run_cfg, "--stream"]
        with open(work / "flwr_run.log", "w") as log:
            subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        whole = time.monotonic() - t0
    finally:
        killed = _stop_marked(marker, link.pid)
        link.wait(timeout=10)
    if not result.exists():
        raise click.ClickException(f"Flower wrote no result; see {work}/flwr_run.log")
    doc = json.loads(result.read_text())
    return {
        "whole_s": whole,
        "rounds": doc["rounds"],
        "initial_accuracy": doc["initial_accuracy"],
        "final_accuracy": doc["rounds"][-1]["accuracy"],
        "leftover_processes_killed": killed,
    }


# ------------------------------------------------------------------------- both


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per side: steady round (median of rounds 2..n) per run and their median, whole
    run per run and median; ratios median FLoBC / median Flower."""
    out: dict[str, Any] = {}
    for side in ("flobc", "flower"):
        steady = [_median([r["round_s"] for r in run[side]["rounds"][1:]]) for run in runs]
        whole = [run[side]["whole_s"] for run in runs]
        out[side] = {
            "steady_round_s": steady,
            "whole_run_s": whole,
            "steady_round_median_s": _median(steady),
            "whole_run_median_s": _median(whole),
            "final_accuracy": [run[side]["final_accuracy"] for run in runs],
        }
    f, w = out["flobc"], out["flower"]
    out["ratio_steady_round"] = f["steady_round_median_s"] / w["steady_round_median_s"]
    out["ratio_whole_run"] = f["whole_run_median_s"] / w["whole_run_median_s"]
    out["flobc_round_profile_median_s"] = profile_medians(
        [p for run in runs for p in run["flobc"]["profile"]]
    )
    out["flobc_critical_path_median_s"] = path_medians(
        [p for run in runs for p in run["flobc"].get("critical_path", [])]
    )
    out["flobc_trainer_fit_median_s"] = _median(
        [x for run in runs for x in run["flobc"]["trainer_fit_s"]]
    )
    cpu = [run["flobc"]["cpu_per_round_s"] for run in runs if "cpu_per_round_s" in run["flobc"]]
    if cpu:
        out["flobc_cpu_per_round_median_s"] = {k: _median([c[k] for c in cpu]) for k in cpu[0]}
    return out


def _versions() -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for pkg in ("flobc", "flwr", "ray", "torch", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["loadavg_at_start"] = os.getloadavg()
    return out


def _table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="flobc bench round (medians over runs)", title_justify="left")
    for col in ("", "steady round", "whole run", "per-run steady", "final accuracy"):
        t.add_column(col, justify="right")
    for side, name in (("flobc", "FLoBC 3 val + 7 trainers"), ("flower", "Flower 1.42 sim")):
        s = summary[side]
        t.add_row(
            name,
            f"{s['steady_round_median_s']:.3f} s",
            f"{s['whole_run_median_s']:.1f} s",
            " ".join(f"{x:.3f}" for x in s["steady_round_s"]),
            " ".join(f"{x:.3f}" for x in s["final_accuracy"]),
        )
    t.add_row(
        "FLoBC / Flower",
        f"{summary['ratio_steady_round']:.2f}x",
        f"{summary['ratio_whole_run']:.2f}x",
        "",
        "",
    )
    Console().print(t)


@click.command("round")
@click.option("--runs", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--rounds", type=click.IntRange(2, 100), default=10, show_default=True)
@click.option("--trainers", type=click.IntRange(1, 50), default=7, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench-round.json"))
@click.option("--work", type=click.Path(path_type=Path), default=None, help="Scratch folder.")
@click.option("--port", type=int, default=39093, show_default=True, help="Flower SuperLink.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds a run.")
def round_(
    runs: int, rounds: int, trainers: int, out: Path, work: Path | None, port: int, timeout: float
) -> None:
    """FLoBC vs Flower round time on the identical workload, runs alternating sides."""
    try:
        import flwr  # noqa: F401
        import ray  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            f"{exc.name} is missing: pip install 'flobc[flower-bench]'"
        ) from None
    work = work or Path(tempfile.mkdtemp(prefix="flobc-bench-round-"))
    info = _versions()
    results = []
    for i in range(runs):
        order = ("flobc", "flower") if i % 2 == 0 else ("flower", "flobc")
        run: dict[str, Any] = {"run": i + 1, "order": list(order)}
        for side in order:
            click.echo(f"run {i + 1}/{runs}: {side} ...")
            d = work / f"run{i + 1}-{side}"
            d.mkdir(parents=True, exist_ok=True)
            if side == "flobc":
                run[side] = flobc_run(d, rounds, trainers, timeout)
            else:
                run[side] = flower_run(d, rounds, trainers, timeout, port)
            click.echo(f"  whole {run[side]['whole_s']:.1f}s")
        results.append(run)
    info["loadavg_at_end"] = os.getloadavg()
    summary = summarize(results)
    doc = {
        "what": "FLoBC vs Flower, identical workload: digits, 2-conv CNN, "
        f"{trainers} clients x 30%, 1 epoch SGD lr 0.05 bs 32, {rounds} rounds, FedAvg",
        "flobc_mode": "3 validators + trainers as processes over loopback (flobc demo)",
        "flower_mode": "local SuperLink --simulation (Ray), 1 CPU per ClientApp, flwr run",
        "steady_round": "median of rounds 2..n; FLoBC: block-time gap between versions; "
        "Flower: configure_train -> centralized evaluation done",
        "environment": info,
        "summary": summary,
        "runs": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    _table(summary)
    click.echo(f"wrote {out}")
