"""Writing an experiment's results folder: ``results.json``, ``report.md`` and helpers."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flobc.experiments.settings import Options


def fmt(x: Any, digits: int = 4) -> str:
    """A table cell: floats rounded, None as a dash."""
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 4) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c, digits) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def header(title: str, opts: Options, doc: dict[str, Any]) -> list[str]:
    """The common top of a report: what ran, how, and how long it took."""
    cfg = doc["config"]
    d, t = cfg["data"], cfg["training"]
    machine = f"{platform.machine()} (Python {platform.python_version()})"
    return [
        f"# {title}",
        "",
        f"Command: `{opts.command or 'flobc experiment ...'}`",
        "",
        f"- runtime: **{opts.runtime}**"
        + (
            " (virtual time: deterministic, independent of machine load)"
            if opts.runtime == "sim"
            else " (real processes over loopback HTTP: wall-clock time)"
        ),
        f"- dataset: {d['dataset']} (max_train_samples={d['max_train_samples']},"
        f" max_test_samples={d['max_test_samples']}, trainer fraction {d['fraction']},"
        f" validation_fraction {d['validation_fraction']})",
        f"- model: {cfg['model']['name']}; training: {t['epochs']} epoch(s),"
        f" {t['optimizer']} lr {t['lr']}, batch {t['batch_size']}; seed {cfg['seed']}",
        f"- compute: {doc['wall_s']:.0f} s wall for the FL runs on {machine}",
        f"- code: {_code_line(doc.get('provenance'))}",
        "",
    ]


def provenance() -> dict[str, Any]:
    """The code a run used: git commit and whether tracked sources had local changes."""
    import subprocess

    root = Path(__file__).resolve().parents[3]

    def git(*args: str) -> str:
        try:
            res = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return res.stdout.strip() if res.returncode == 0 else ""

    changed = git("diff", "--name-only", "HEAD", "--", "src")
    return {"commit": git("rev-parse", "HEAD") or None, "modified_sources": changed.split()}


def write_json(out: Path, doc: dict[str, Any]) -> Path:
    """Write ``results.json`` into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def _code_line(prov: dict[str, Any] | None) -> str:
    if not prov or not prov.get("commit"):
        return "unknown"
    mods = prov.get("modified_sources") or []
    extra = f" with local changes to {', '.join(mods)}" if mods else ""
    return f"git {prov['commit'][:10]}{extra}"


def write(out: Path, doc: dict[str, Any], report_md: str) -> Path:
    """Write ``results.json`` and ``report.md`` into ``out`` (created)."""
    write_json(out, doc)
    (out / "report.md").write_text(report_md.rstrip() + "\n")
    return out


def curve(run: dict[str, Any]) -> tuple[list[int], list[float]]:
    """(versions, accuracies) of a run in results.json form."""
    return [v["version"] for v in run["versions"]], [v["accuracy"] for v in run["versions"]]


def time_curve(run: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(seconds, accuracies) of a run in results.json form."""
    return [v["time_s"] for v in run["versions"]], [v["accuracy"] for v in run["versions"]]
