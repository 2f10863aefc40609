"""What a trainer does next under each synchronisation scheme (shared by every runtime).

* BSP / ASP: train once per model version, submit, wait for the next version.
* SSP: as BSP; when the round is extended, a trainer that submitted by the deadline trains
  at most N more local steps and resubmits its cumulative update on the same base, once.
* BAP: no barrier to wait for; keep training on the current base and share the cumulative
  update every so often, until a new version is released, then pull it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
    kind: Literal["train_new", "train_more", "wait"]
    steps: int | None = None  # None: the configured epochs


def next_work(view: TrainerView, *, ssp_extra_steps: int, share_every_steps: int) -> Work:
    if view.latest_version > view.trained_version:
        return Work("train_new")
    if not view.submitted:
        return Work("wait")
    if view.scheme == "bap":
        return Work("train_more", share_every_steps or None)
    if (
        view.scheme == "ssp"
        and view.round_extended
        and not view.extra_done
        and not view.submitted_in_extension
        and ssp_extra_steps
    ):
        return Work("train_more", ssp_extra_steps)
    return Work("wait")
