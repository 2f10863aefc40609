"""The node's status as the HTTP API and the dashboard report it."""

from __future__ import annotations

from typing import Any

from flobc.node.chain.admission import TxAdmission
from flobc.node.chain.block_sync import BlockSync
from flobc.node.chain.consensus_driver import ConsensusDriver
from flobc.node.chain.context import NodeContext


def node_status(
    ctx: NodeContext, driver: ConsensusDriver, admission: TxAdmission, sync: BlockSync
) -> dict[str, Any]:
    last = ctx.store.height()
    return {
        "node_id": ctx.node_id,
        "chain_id": ctx.chain_id,
        "validator_index": ctx.me,
        "height": last,
        "latest_block_hash": (ctx.store.block_hash(last) or b"").hex(),
        "app_hash": ctx.app.info()[1].hex(),
        "round": driver.consensus.round,
        "step": driver.consensus.step.name.lower(),
        "mempool": len(admission.mempool),
        "peers": sync.status(),
    }
