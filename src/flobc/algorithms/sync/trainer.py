"""What a trainer knows and what it may do next; the schemes decide (``next_work``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["TrainerView", "Work"]


@dataclass(frozen=True)
class TrainerView:
    """What the trainer knows: its own progress and the ledger's latest version and round."""

    scheme: str
    latest_version: int
    trained_version: int  # -1 before the first model
    submitted: bool  # submitted an update on ``trained_version``
    extra_done: bool  # SSP: already used the extension
    round_extended: bool  # SSP: the current round has an extension
    #: SSP: the update on ``trained_version`` went in only during the extension (a slow
    #: trainer), so there is no extra training to do: the extension is for those done in time
    submitted_in_extension: bool = False


@dataclass(frozen=True)
class Work:
    """Train from a new version, train more on the same base, or wait."""

    kind: Literal["train_new", "train_more", "wait"]
    steps: int | None = None  # None: the configured epochs
