"""``flobc experiment NAME``: one of the paper's experiments, with plots and a report."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from flobc.experiments import NAMES, PAPER


def _run_one(name: str, opts: object) -> None:
    from flobc.experiments import experiment
    from flobc.experiments.report import provenance, write_json
    from flobc.experiments.runtime import Runner

    mod = experiment(name)
    code = provenance()
    started = time.perf_counter()
    doc = mod.run(opts, Runner(opts))  # type: ignore[arg-type]
    doc["elapsed_s"] = round(time.perf_counter() - started, 1)
    doc["provenance"] = code
    write_json(opts.out, doc)  # type: ignore[attr-defined]  # first, in case plotting fails
    mod.write(doc, opts)
    click.echo(f"{name}: {doc['elapsed_s']:.0f}s -> {opts.out / 'report.md'}")  # type: ignore[attr-defined]


def _argv(ctx: click.Context) -> list[str]:
    """The command line, rebuilt from the parsed parameters (those not at their default)."""
    argv = ["flobc", "experiment", ctx.params["name"]]
    for p in ctx.command.params:
        value = ctx.params.get(p.name or "")
        if isinstance(p, click.Argument) or value in (None, False, ()) or value == p.default:
            continue
        flag = p.opts[-1] if len(p.opts) > 1 and p.opts[-1].startswith("--") else p.opts[0]
        if isinstance(value, tuple):
            for v in value:
                argv += [flag, str(v)]
        else:
            argv += [flag] if value is True else [flag, str(value)]
    return argv


def _replot(name: str, opts: object) -> None:
    import json

    from flobc.experiments import experiment

    path = opts.out / "results.json"  # type: ignore[attr-defined]
    if not path.exists():
        raise click.ClickException(f"{path} does not exist")
    doc = json.loads(path.read_text())
    for key in ("rounds", "quick", "runtime", "command"):
        setattr(opts, key, doc["options"][key])
    experiment(name).write(doc, opts)
    click.echo(f"{name}: rewrote {opts.out / 'report.md'}")  # type: ignore[attr-defined]


@click.command()
@click.argument("name", type=click.Choice([*NAMES, "all"]))
@click.option(
    "--dataset",
    type=click.Choice(["digits", "fashion-mnist", "mnist"]),
    default=None,
    help="Default: fashion-mnist (digits with --quick).",
)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--rounds", type=click.IntRange(1, 1000), default=None, help="Default 30 (8 quick).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quick", is_flag=True, help="digits + small-cnn, few rounds (seconds).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Results folder (default flobc-results/NAME; with 'all', one subfolder each).",
)
@click.option(
    "--runtime",
    type=click.Choice(["sim", "processes"]),
    default="sim",
    show_default=True,
    help="sim: deterministic simulator, virtual time; processes: real local processes.",
)
@click.option(
    "--timeout",
    type=float,
    default=1800.0,
    show_default=True,
    help="processes: seconds one run may take.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a run-configuration key in every arm, e.g. --set training.epochs=2.",
)
@click.option(
    "--replot",
    is_flag=True,
    help="Only rewrite report.md and the plots from OUT/results.json (no runs).",
)
@click.option(
    "--grid",
    "grid_axes",
    multiple=True,
    metavar="AXIS=V1,V2",
    help="robustness: run only these attacks, defenses, fractions or partitions.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="robustness: simulations to run in parallel processes.",
)
@click.option(
    "--executor",
    type=click.Choice(["inprocess", "ray"]),
    default="inprocess",
    show_default=True,
    help="sim: run trainers' training and validators' scoring here, or as Ray tasks"
    " (needs the ray extra; same results).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="HOST:PORT",
    help="--executor ray: join this cluster (`ray start --head`); default a local one.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every run as it starts and ends.")
def experiment(
    name: str,
    dataset: str | None,
    data_dir: Path | None,
    rounds: int | None,
    seed: int,
    quick: bool,
    out: Path | None,
    runtime: str,
    timeout: float,
    overrides: tuple[str, ...],
    replot: bool,
    grid_axes: tuple[str, ...],
    jobs: int,
    executor: str,
    ray_address: str | None,
    verbose: bool,
) -> None:
    """Run one of the paper's experiments (docs/experiments.md): benchmark, split,
    reputation, sync (simulator only) or all of them; or robustness (attacks x defences,
    simulator only) or privacy (needs the privacy extra). Writes results.json, plots and
    report.md."""
    from flobc.algorithms.privacy import PrivacyError
    from flobc.experiments.settings import Options, command_line, parse_override
    from flobc.ml.data import DatasetNotFound

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        parsed = dict(parse_override(o) for o in overrides)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from exc
    grid: dict[str, list[str]] = {}
    for g in grid_axes:
        axis, sep, values = g.partition("=")
        if not sep or not values.strip():
            raise click.BadParameter(f"expected AXIS=V1,V2, got {g!r}", param_hint="--grid")
        grid[axis.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    if ray_address and executor != "ray":
        raise click.BadParameter("needs --executor ray", param_hint="--ray-address")
    if executor != "inprocess" and runtime != "sim":
        raise click.BadParameter("only the simulator has executors", param_hint="--executor")
    names = list(PAPER) if name == "all" else [name]
    root = out or Path("flobc-results")
    for n in names:
        opts = Options(
            dataset=dataset,
            data_dir=str(data_dir) if data_dir else None,
            rounds=rounds,
            seed=seed,
            quick=quick,
            out=(root / n) if (name == "all" or out is None) else root,
            runtime=runtime,
            timeout_s=timeout,
            command=command_line(_argv(click.get_current_context())),
            overrides=parsed,
            grid=grid,
            jobs=jobs,
            executor=executor,
            ray_address=ray_address,
        )
        if n in ("sync", "robustness") and runtime != "sim":
            click.echo(f"{n}: skipped (simulator only; see docs/experiments.md)", err=True)
            continue
        if replot:
            _replot(n, opts)
            continue
        try:
            _run_one(n, opts)
        except (DatasetNotFound, ValueError, PrivacyError) as exc:  # ConfigError: ValueError
            raise click.ClickException(str(exc)) from exc
