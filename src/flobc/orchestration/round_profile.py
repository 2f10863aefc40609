"""Where a round of a running FL network went, read from its ledger's block times.

Per released version: previous release → first update committed (trainers woken, fetch,
train, upload, a block), first → last update committed (the spread of the trainers'
finishes), last update → last vote committed (validation, the vote and its block), last
vote → release. The ledger's times are the proposers' block times, so the phases add up
to the round time exactly, whatever the machine's load.
"""

from __future__ import annotations

import statistics
from typing import Any

from flobc.orchestration.watch import get_json

PHASES = ("to_first_update_s", "update_spread_s", "votes_s", "release_s")


def round_profile(url: str, rounds: int, subnet: str | None = None) -> list[dict[str, float]]:
    """The phases of versions 1..``rounds`` (those with updates) from validator ``url``."""
    q = "" if subnet is None else f"?subnet={subnet}"
    block_ms: dict[int, int] = {}

    def at(h: int) -> int:
        if h not in block_ms:
            doc = get_json(f"{url}/v1/blocks/{h}")
            block_ms[h] = int(doc.get("header", doc).get("time_ms"))
        return block_ms[h]

    out = []
    prev = get_json(f"{url}/v1/models/0{q}")["time_ms"]
    for v in range(1, rounds + 1):
        doc = get_json(f"{url}/v1/models/{v}{q}")
        ups = [get_json(f"{url}/v1/updates/{u}{q}") for u in doc.get("updates", [])]
        decided = [at(u["decided_height"]) for u in ups if u.get("decided_height")]
        if not ups or not decided:
            prev = doc["time_ms"]
            continue
        first = min(u["time_ms"] for u in ups)
        last = max(u["time_ms"] for u in ups)
        voted = max(decided)
        out.append(
            {
                "version": v,
                "to_first_update_s": (first - prev) / 1000,
                "update_spread_s": (last - first) / 1000,
                "votes_s": (voted - last) / 1000,
                "release_s": (doc["time_ms"] - voted) / 1000,
            }
        )
        prev = doc["time_ms"]
    return out


def profile_medians(profile: list[dict[str, float]], from_version: int = 2) -> dict[str, Any]:
    """The median of each phase over versions ≥ ``from_version`` (the steady rounds)."""
    rows = [p for p in profile if p["version"] >= from_version]
    return {k: (statistics.median(p[k] for p in rows) if rows else None) for k in PHASES}
