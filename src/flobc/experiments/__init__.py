"""The paper's experiments (Section V), rerunnable with one command each, and their plots.

``flobc experiment NAME`` runs one of :data:`NAMES` and writes a results folder with
``results.json`` (every plotted number), PNG plots and ``report.md`` (ours next to the
paper's). Each experiment module has ``run(opts, runner) -> document`` and
``write(document, opts)``.
"""

from __future__ import annotations

from types import ModuleType

#: The paper's four experiments (what ``flobc experiment all`` runs).
PAPER = ("benchmark", "split", "reputation", "sync")
#: Every experiment: the paper's and ours beyond it.
NAMES = (*PAPER, "robustness", "privacy")


def experiment(name: str) -> ModuleType:
    """The module of experiment ``name`` (imported on demand)."""
    import importlib

    if name not in NAMES:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(NAMES)}")
    return importlib.import_module(f"flobc.experiments.{name}")
