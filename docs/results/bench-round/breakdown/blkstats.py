"""Per run of an ``ab.py`` JSON-lines file: empty blocks, vote and update transactions per
round, from validator-0's block store (the last two thirds of the chain).
``PYTHONPATH=src python blkstats.py ab.jsonl``"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

from flobc.app.fl.txs import UPDATE, VOTE
from flobc.chain.store.sqlite import SQLiteBlockStore
from flobc.chain.types import SignedTx
from flobc.encoding import decode

for line in Path(sys.argv[1]).read_text().splitlines():
    d = json.loads(line)
    net = Path(d["dir"])
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "l.sqlite"
        shutil.copy(net / "validator-0/data/ledger.sqlite", db)
        st = SQLiteBlockStore(db)
        H = st.height()
        empty = ups = votes = 0
        lo = H // 3
        for h in range(lo, H + 1):
            txs = [decode(r, SignedTx).kind for r in st.block(h).txs]
            empty += not txs
            ups += txs.count(UPDATE)
            votes += txs.count(VOTE)
        n = H - lo + 1
    rounds = n / d["blocks_per_round"]
    print(
        d["tag"],
        "blocks/round",
        round(d["blocks_per_round"], 2),
        "empty/round",
        round(empty / rounds, 2),
        "vote txs/round",
        round(votes / rounds, 2),
        "updates/round",
        round(ups / rounds, 2),
    )
