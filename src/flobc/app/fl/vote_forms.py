"""The checks of a vote transaction's body that depend on its bytes alone, remembered.

Decoding a batch of ballots and checking each ballot's form is a pure function of the
body bytes and of the genesis' validation rule (the measures it needs). Every validator
checks each vote transaction; in the simulator the validators share one process, so the
decoded body is remembered here, by its bytes, for all of them (as signature checks
are, :func:`flobc.crypto.keys.verify`): ten simulated validators decoded every batch ten
times. Bounded by ballots held; the decoded bodies are frozen and only read.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from flobc.app.abci import TxCheck
from flobc.app.fl.txs import MAX_BALLOTS, VoteBody, VotesBody
from flobc.encoding import DecodeError, decode

#: Most ballots (and bodies) whose decoding and form are remembered, process-wide
BODY_CACHE_BALLOTS = 131_072
BODY_CACHE_BODIES = 512

#: (body bytes, measures needed, rule name) -> (decoding refusal, body, form refusal)
Form = tuple[TxCheck | None, VotesBody | None, TxCheck]
_forms: OrderedDict[tuple[bytes, tuple[str, ...], str], Form] = OrderedDict()
_ballots = 0


def body_form(body: bytes, needs: tuple[str, ...], rule: str) -> Form:
    """``(refusal, None, _)`` when ``body`` does not decode; else ``(None, votes, form)``
    with ``form`` the first problem of the ballots (count, an update named twice, a
    ballot's scores or measures), or ok."""
    global _ballots
    key = (body, needs, rule)
    hit = _forms.get(key)
    if hit is not None:
        _forms.move_to_end(key)
        return hit
    out = _body_form(body, needs, rule)
    _forms[key] = out
    _ballots += len(out[1].ballots) if out[1] is not None else 0
    while len(_forms) > 1 and (len(_forms) > BODY_CACHE_BODIES or _ballots > BODY_CACHE_BALLOTS):
        _, old = _forms.popitem(last=False)
        _ballots -= len(old[1].ballots) if old[1] is not None else 0
    return out


def _body_form(body: bytes, needs: tuple[str, ...], rule: str) -> Form:
    try:
        votes = decode(body, VotesBody)
    except DecodeError as exc:
        return TxCheck(400, f"malformed vote: {exc}"), None, TxCheck()
    if not 1 <= len(votes.ballots) <= MAX_BALLOTS:
        return None, votes, TxCheck(400, f"a vote carries 1..{MAX_BALLOTS} ballots")
    seen: set[bytes] = set()
    for k, ballot in enumerate(votes.ballots):
        if ballot.update_id in seen:
            msg = f"ballot {k}: update {ballot.update_id.hex()[:12]} is voted on twice"
            return None, votes, TxCheck(400, msg)
        seen.add(ballot.update_id)
        form = ballot_form(ballot, needs, rule)
        if not form.ok:
            return None, votes, TxCheck(form.code, f"ballot {k}: {form.message}")
    return None, votes, TxCheck()


def ballot_form(body: VoteBody, needs: tuple[str, ...], rule: str) -> TxCheck:
    """One ballot's form: finite scores, the rule's measures present and finite."""
    if not (math.isfinite(body.score) and math.isfinite(body.base_score)):
        return TxCheck(400, "scores must be finite")
    missing = [m for m in needs if m not in body.measures]
    if missing:
        return TxCheck(400, f"the {rule} rule needs measures {missing}")
    if not all(map(math.isfinite, body.measures.values())):
        return TxCheck(400, "measures must be finite")
    if len(body.measures) > 32:
        return TxCheck(400, "at most 32 measures per vote")
    return TxCheck()
