"""``flobc data download`` and ``flobc export``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def data() -> None:
    """Datasets."""


@data.command()
@click.argument("name", type=click.Choice(["mnist", "fashion-mnist"]))
@click.option(
    "--dest",
    type=click.Path(path_type=Path),
    default=None,
    help="Target folder (default ~/.cache/flobc/NAME).",
)
@click.option("--force", is_flag=True, help="Download again even if the files are there.")
def download(name: str, dest: Path | None, force: bool) -> None:
    """Fetch NAME's IDX files from the usual public mirrors (needs internet)."""
    from flobc.ml.download import DownloadError, download_dataset

    try:
        path = download_dataset(name, dest, force=force, log=click.echo)
    except DownloadError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{name} is in {path}")


@click.command()
@click.option("--node", "node_url", required=True, help="A validator's API URL.")
@click.option("--version", "version", type=str, default="latest", show_default=True)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def export(node_url: str, version: str, out: Path) -> None:
    """Save a model version's weights as safetensors, checked against the ledger's hash."""
    import urllib.error

    from flobc.ml.weights import from_safetensors, weights_hash
    from flobc.orchestration.watch import get, get_json

    base = node_url.rstrip("/")
    try:
        doc = get_json(f"{base}/v1/models/{version}")
        data = get(f"{base}/v1/models/{doc['version']}/weights", timeout=60)
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"{base}: {exc}") from exc
    vec, _ = from_safetensors(data)
    if weights_hash(vec).hex() != doc["hash"]:
        raise click.ClickException("the weights do not match the ledger's hash")
    out.write_bytes(data)
    click.echo(f"version {doc['version']} ({doc['hash'][:16]}…) → {out}")
