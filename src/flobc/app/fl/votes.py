"""Vote transactions in block execution: their checks and the recording of their ballots.

An ``fl.vote`` transaction carries one validator's ballots on a batch of updates
(:class:`~flobc.app.fl.txs.VotesBody`). The rule, the same on every validator: anything
wrong with the transaction or with any ballot's form fails it whole, with nothing taken;
a well-formed ballot the ledger can no longer take (the update unknown, decided, or
already voted on by this validator: one vote per update, which also makes replays fail)
is skipped, and the others are recorded in ballot order. When an update's votes reach
a BFT quorum of voting power, the genesis' validation rule decides it.

A vote is checked on arrival, at every mempool recheck, in proposals and at execution;
its state-free part (decoding, signature, ballot form) never changes, so
:class:`VoteBook` remembers it per transaction content until the transaction executes.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from flobc.algorithms.decision import has_quorum
from flobc.app.abci import TxCheck
from flobc.app.fl import privacy, vote_forms
from flobc.app.fl.state import FLState, UpdateStatus, add_sorted
from flobc.app.fl.txs import VoteBody, VotesBody
from flobc.chain.types import BlockHeader, SignedTx
from flobc.chain.validators import ValidatorSet

__all__ = [
    "DECISIONS_KEPT",
    "VOTE_CACHE_BALLOTS",
    "VOTE_CACHE_TXS",
    "VoteBook",
    "content",
    "decide",
    "vote_measures",
]

#: Vote transactions whose state-free checks are remembered, and most ballots among them.
#: An entry is dropped once its transaction is executed, so the memory holds what waits in
#: the mempool: at 10,000 trainers x 10 validators a round's ballots are 100,000.
VOTE_CACHE_TXS = 256
VOTE_CACHE_BALLOTS = 131_072
#: Rule decisions remembered process-wide (see :func:`decide`)
DECISIONS_KEPT = 8_192
_decisions: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def vote_measures(body: VoteBody) -> dict[str, float]:
    """A vote as the rule reads it and the ledger keeps it: the measures and both scores."""
    return {**body.measures, "score": body.score, "base_score": body.base_score}


def decide(rule: Any, rule_key: Any, votes: Sequence[dict[str, float]], noise: Any) -> Any:
    """``rule.decide(votes, noise)``, remembered process-wide by everything it reads.

    A validation rule's ``decide`` is pure and deterministic (its protocol says so): its
    answer is a function of the rule (``rule_key``: its name and parameters), the votes
    and the declared noise. The simulated validators of one process record the same
    ballots and decide every update on the same quorum, each computing the same answer;
    the first computes it. The key holds every vote's measure names in order and their
    values' float64 bytes (so ``-0.0`` and ``0.0``, equal as floats, are told apart)."""
    key = (
        rule_key,
        noise,
        tuple(map(tuple, votes)),
        b"".join([_packer(len(v))(*v.values()) for v in votes]),
    )
    hit = _decisions.get(key)
    if hit is None:
        hit = _decisions[key] = rule.decide(votes, noise)
        if len(_decisions) > DECISIONS_KEPT:
            _decisions.popitem(last=False)
    return hit


_PACKERS: dict[int, Any] = {}


def _packer(n: int) -> Any:
    """``struct.pack`` of ``n`` little-endian float64s."""
    pack = _PACKERS.get(n)
    if pack is None:
        pack = _PACKERS[n] = struct.Struct(f"<{n}d").pack
    return pack


def content(tx: SignedTx) -> tuple[Any, ...]:
    """A transaction's whole content: the key its remembered checks are kept under."""
    return (tx.signer, tx.kind, tx.nonce, tx.body, tx.signature)


class VoteBook:
    """One app's vote checks and ballot recording (see the module docstring).

    ``validators`` maps a validator's public key (hex) to its index, the key its votes
    are kept under; ``rule`` is the genesis' validation rule, ``rule_key`` what it is
    built from, and ``needs`` the measures it reads beyond the two scores.
    """

    def __init__(
        self,
        chain_id: str,
        validators: dict[str, int],
        vset: ValidatorSet,
        rule: Any,
        rule_key: Any,
        needs: tuple[str, ...],
    ) -> None:
        self.chain_id = chain_id
        self.validators = validators
        self.vset = vset
        self.rule = rule
        #: what the rule is built from (its name and parameters), hashable (see decide)
        self.rule_key = rule_key
        self.needs = needs
        #: voting power by the key a vote is kept under (the validator's index as a string)
        self._power = {str(i): v.power for i, v in enumerate(vset.validators)}
        powers = set(self._power.values())
        #: every validator's power when all have the same: a quorum is then a vote count
        self._uniform = powers.pop() if len(powers) == 1 else None
        #: a vote's state-free checks by its content (see :meth:`form`)
        self.forms: OrderedDict[tuple[Any, ...], tuple[TxCheck, VotesBody | None]] = OrderedDict()
        self.form_ballots = 0

    # ------------------------------------------------------------------ checks

    def check(
        self, tx: SignedTx, st: FLState, first_fit: bool = False
    ) -> tuple[TxCheck, list[VoteBody]]:
        """The ballots of vote transaction ``tx`` that ``st`` takes, in ballot order (the
        rule is in the module docstring). The transaction succeeds if at least one ballot
        is taken; else it fails with the first skipped ballot's reason. ``first_fit``
        (admission and mempool rechecks, which only ask whether the transaction still
        applies) stops at the first ballot taken."""
        check, body = self.form(tx)
        if body is None:
            return check, []
        voter = str(self.validators[tx.signer.hex()])
        taken: list[VoteBody] = []
        skipped: list[tuple[VoteBody, TxCheck]] = []
        for ballot in body.ballots:
            why = refused(ballot, st, voter)
            if why is None:
                if first_fit:
                    return TxCheck(), [ballot]
                taken.append(ballot)
            else:
                skipped.append((ballot, why))
        if not skipped:
            return TxCheck(), taken
        first, why = skipped[0]
        if not taken:
            return why, []
        note = (
            f"{len(skipped)} of {len(body.ballots)} ballots skipped "
            f"(first: {first.update_id.hex()[:12]}: {why.message})"
        )
        return TxCheck(message=note), taken

    def form(self, tx: SignedTx) -> tuple[TxCheck, VotesBody | None]:
        """Checks of a vote transaction that do not read the state: the signer is a
        validator, the signature holds, and every ballot is well formed (remembered for
        the last few transactions, by their whole content)."""
        key = content(tx)
        hit = self.forms.get(key)
        if hit is not None:
            self.forms.move_to_end(key)
            return hit
        out = self._form(tx)
        self.forms[key] = out
        self.form_ballots += len(out[1].ballots) if out[1] is not None else 0
        while len(self.forms) > VOTE_CACHE_TXS or (
            self.form_ballots > VOTE_CACHE_BALLOTS and len(self.forms) > 1
        ):
            _, (_, old) = self.forms.popitem(last=False)
            self.form_ballots -= len(old.ballots) if old is not None else 0
        return out

    def forget(self, tx: SignedTx) -> None:
        """Drop ``tx``'s remembered checks (it has executed; nobody asks again)."""
        gone = self.forms.pop(content(tx), None)
        if gone is not None and gone[1] is not None:
            self.form_ballots -= len(gone[1].ballots)

    def _form(self, tx: SignedTx) -> tuple[TxCheck, VotesBody | None]:
        if tx.signer.hex() not in self.validators:
            return TxCheck(403, "votes are only accepted from validators"), None
        refusal, body, form = vote_forms.body_form(tx.body, self.needs, self.rule.name)
        if refusal is not None:
            return refusal, None
        if not tx.verify(self.chain_id):
            return TxCheck(401, "bad signature"), None
        if not form.ok:
            return form, None
        return TxCheck(), body

    # ------------------------------------------------------------------ recording

    def record(self, st: FLState, tx: SignedTx, body: VoteBody, header: BlockHeader) -> None:
        """Keep one taken ballot; decide its update when its votes reach a quorum."""
        upd = st.own_update(body.update_id.hex())
        upd.votes[str(self.validators[tx.signer.hex()])] = vote_measures(body)
        # the votes' keys are distinct validator indices: their power without a set per
        # ballot, and without a sum when every validator has the same power
        if self._uniform is not None:
            power = self._uniform * len(upd.votes)
        else:
            power = sum(self._power[k] for k in upd.votes)
        if not has_quorum(power, self.vset.total_power):
            return
        votes = [upd.votes[k] for k in sorted(upd.votes, key=int)]
        decision = decide(self.rule, self.rule_key, votes, privacy.declared_noise(upd))
        upd.status = UpdateStatus.ACCEPTED if decision.accepted else UpdateStatus.REJECTED
        upd.improvement = decision.improvement
        upd.reason = decision.reason
        upd.decided_height = header.height
        trainer = st.own_trainer(upd.trainer)
        if decision.accepted:
            trainer.accepted += 1
        else:
            trainer.rejected += 1
        st.unscored.append(upd.id)  # trust moves at the next barrier, in a canonical order
        assert st.round is not None
        if upd.round == st.round.number:
            add_sorted(st.round.decided, upd.trainer)


def refused(body: VoteBody, st: FLState, voter: str) -> TxCheck | None:
    """Why the ledger does not take this ballot now (one vote per validator and update),
    or None when it does."""
    upd = st.updates.get(body.update_id.hex())
    if upd is None:
        return TxCheck(404, "unknown update")
    if upd.status != UpdateStatus.PENDING:
        return TxCheck(409, f"update already {upd.status}")
    if voter in upd.votes:
        return TxCheck(409, "this validator already voted on that update")
    return None
