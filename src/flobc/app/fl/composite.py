"""SubnetsApp: several model subnetworks behind one ABCI application (paper §IV.C).

Each subnetwork is a plain :class:`~flobc.app.fl.app.FLApp` over a genesis restricted to
its validators, so its quorums and decisions count that subnetwork's validators only.
Transactions are routed by the subnetwork their signed kind names; every block is executed
by every subnetwork (time moves their rounds), in genesis order. The app hash commits to
each subnetwork's state hash in that fixed order. Block execution still runs no ML.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flobc.app.abci import Application, BlockResult, TxCheck, TxResult
from flobc.app.fl.app import DEFAULT_SNAPSHOT_INTERVAL, FLApp
from flobc.app.fl.subnets import (
    SubnetError,
    SubnetSpec,
    choose,
    has_subnets,
    parse_subnets,
    split_kind,
)
from flobc.chain.genesis import Genesis
from flobc.chain.types import BlockHeader, SignedTx
from flobc.encoding import DecodeError, decode, encode, hash_obj


class SubnetsApp:
    """Routes each FL transaction to its subnetwork's :class:`FLApp`."""

    def __init__(
        self, genesis: Genesis, blobs: Any, snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL
    ):
        self.chain_id = genesis.chain_id
        self.specs: list[SubnetSpec] = parse_subnets(genesis)
        self.apps: dict[str, FLApp] = {
            s.name: FLApp(s.genesis, blobs, snapshot_interval, subnet=s.name) for s in self.specs
        }
        self.blobs = blobs

    # ------------------------------------------------------------------ routing

    @property
    def names(self) -> list[str]:
        """The subnetworks, in genesis order."""
        return list(self.apps)

    def subnet(self, name: str | None = None) -> FLApp:
        """Subnetwork ``name``'s app (None: the only one); :class:`SubnetError` otherwise."""
        return self.apps[choose(self.names, name)]

    def _route(self, tx: SignedTx) -> FLApp | None:
        _, name = split_kind(tx.kind)
        app = self.apps.get(name) if name is not None else None
        return app if app is not None and app.kind(tx) is not None else None

    def _unroutable(self, tx: SignedTx) -> TxCheck:
        return TxCheck(
            400,
            f"transaction kind {tx.kind!r} names no subnetwork of this network "
            f"(expected fl.update, fl.vote or fl.register @NAME, NAME one of "
            f"{', '.join(self.names)})",
        )

    def _hash(self, hashes: list[bytes]) -> bytes:
        return hash_obj(["subnets", [[n, h] for n, h in zip(self.names, hashes, strict=True)]])

    # ------------------------------------------------------------------ ABCI

    def info(self) -> tuple[int, bytes]:
        infos = [app.info() for app in self.apps.values()]
        height = infos[0][0]
        return height, (self._hash([h for _, h in infos]) if height else b"")

    def check_tx(self, tx: SignedTx) -> TxCheck:
        app = self._route(tx)
        return self._unroutable(tx) if app is None else app.check_tx(tx)

    def required_blobs(self, tx: SignedTx) -> tuple[bytes, ...]:
        app = self._route(tx)
        return () if app is None else app.required_blobs(tx)

    def check_blob(self, tx: SignedTx, data: bytes) -> TxCheck:
        app = self._route(tx)
        return self._unroutable(tx) if app is None else app.check_blob(tx, data)

    def _split(self, txs: list[SignedTx]) -> dict[str, list[int]]:
        """Indices of ``txs`` per subnetwork (unroutable ones in none)."""
        out: dict[str, list[int]] = {n: [] for n in self.names}
        for i, tx in enumerate(txs):
            app = self._route(tx)
            if app is not None:
                out[app.subnet].append(i)  # type: ignore[index]
        return out

    def prepare_proposal(self, header: BlockHeader, txs: list[SignedTx]) -> list[int]:
        keep: list[int] = []
        for name, idx in self._split(txs).items():
            picked = self.apps[name].prepare_proposal(header, [txs[i] for i in idx])
            keep.extend(idx[j] for j in picked)
        return keep

    def process_proposal(self, header: BlockHeader, txs: list[SignedTx]) -> bool:
        split = self._split(txs)
        if sum(len(idx) for idx in split.values()) != len(txs):
            return False
        return all(
            self.apps[name].process_proposal(header, [txs[i] for i in idx])
            for name, idx in split.items()
        )

    def finalize_block(self, header: BlockHeader, txs: list[SignedTx]) -> BlockResult:
        results: list[TxResult | None] = [None] * len(txs)
        hashes = []
        for name, idx in self._split(txs).items():
            res = self.apps[name].finalize_block(header, [txs[i] for i in idx])
            for i, r in zip(idx, res.tx_results, strict=True):
                results[i] = r
            hashes.append(res.app_hash)
        out = [
            r if r is not None else TxResult(400, self._unroutable(tx).message)
            for r, tx in zip(results, txs, strict=True)
        ]
        return BlockResult(self._hash(hashes), out)

    def commit(self) -> bytes | None:
        """Commit every subnetwork; a snapshot of all of them when any takes one (they
        share the snapshot interval, so all do at the same heights)."""
        snaps = [app.commit() for app in self.apps.values()]
        if all(s is None for s in snaps):
            return None
        return self.snapshot()

    def snapshot(self) -> bytes:
        return encode([[n, app.snapshot()] for n, app in self.apps.items()])

    def restore(self, height: int, snapshot: bytes) -> None:
        try:
            parts = decode(snapshot, list[tuple[str, bytes]], max_bytes=1 << 31)
        except DecodeError as exc:
            raise ValueError(f"not a subnetworks snapshot: {exc}") from exc
        if [n for n, _ in parts] != self.names:
            raise ValueError(f"snapshot subnetworks {[n for n, _ in parts]} != {self.names}")
        for name, snap in parts:
            self.apps[name].restore(height, snap)

    def query(self, path: str, params: dict[str, Any]) -> Any:
        """``subnets`` lists them; any other path goes to ``params["subnet"]`` (or the only
        subnetwork): :class:`SubnetError` when that names none."""
        if path == "subnets":
            return self.subnets_doc()
        rest = dict(params)
        app = self.subnet(rest.pop("subnet", None))
        return app.query(path, rest)

    def subnets_doc(self) -> list[dict[str, Any]]:
        """Each subnetwork: name, model, scheme, validators and trainers, latest version."""
        out = []
        for spec in self.specs:
            app = self.apps[spec.name]
            st = app.live
            out.append(
                {
                    "name": spec.name,
                    "model": spec.config.model.name,
                    "scheme": app.ctx.scheme.name,
                    "aggregator": spec.config.aggregator,
                    "reputation": spec.config.reputation,
                    "validation": spec.config.validation,
                    "validators": list(spec.validators),
                    "trainers": len(st.trainers),
                    "version": st.version.version,
                    "round": st.round.number if st.round is not None else 0,
                }
            )
        return out


class FLEntry:
    """The ``"fl"`` application of the registry (:mod:`flobc.app.registry`): one model
    (:class:`FLApp`), or several model subnetworks (:class:`SubnetsApp`) when the genesis
    declares ``fl.subnets``."""

    name: ClassVar[str] = FLApp.name

    @classmethod
    def from_genesis(cls, genesis: Genesis, blobs: Any) -> Application:
        if has_subnets(genesis.app_state):
            return SubnetsApp(genesis, blobs)
        return FLApp.from_genesis(genesis, blobs)


def subnet_names(app: Any) -> list[str | None]:
    """The subnetworks an application runs: its names, or ``[None]`` for a plain FLApp."""
    return app.names if isinstance(app, SubnetsApp) else [None]


def fl_app(app: Any, name: str | None = None) -> FLApp:
    """The FL app of subnetwork ``name`` in ``app`` (a plain FLApp is the only one; then a
    name is an error unless absent)."""
    if isinstance(app, SubnetsApp):
        return app.subnet(name)
    if name:
        raise SubnetError(f"subnet: this network has no subnetworks (got {name!r})")
    return app  # type: ignore[no-any-return]


__all__ = ["FLEntry", "SubnetError", "SubnetsApp", "fl_app", "subnet_names"]
