"""A small Flower ``NumPyClient`` written the way Flower's docs write one: softmax
regression in NumPy on scikit-learn's digits, partitioned by ``partition-id``.

The tests run it unchanged as FLoBC trainers (and, with ``[model] name = "flower"``, as
the validators' scorer), through ``client_fn`` and through ``ClientApp(client_fn=...)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.app import Context
from flwr.client import NumPyClient
from flwr.clientapp import ClientApp
from sklearn.datasets import load_digits

SEEN: list[dict[str, Any]] = []  # node_config of every client built (for the tests)


def _data() -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    return (d.data[order] / 16.0).astype(np.float32), d.target[order].astype(np.int64)


def load_partition(pid: int, n: int, role: str) -> tuple[np.ndarray, np.ndarray]:
    """Trainers split the first 80%; validators split the last 20%."""
    x, y = _data()
    cut = int(0.8 * len(y))
    lo, hi = (cut, len(y)) if role == "validator" else (0, cut)
    idx = np.array_split(np.arange(lo, hi), n)[pid]
    return x[idx], y[idx]


def _logits(params: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    w, b = params
    return x @ w + b


class DigitsClient(NumPyClient):
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def get_parameters(self, config: dict[str, Any]) -> list[np.ndarray]:
        w = (np.random.randn(64, 10) * 0.01).astype(np.float32)
        return [w, np.zeros(10, np.float32)]

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple:
        w, b = (p.astype(np.float64) for p in parameters)
        lr, bs = float(config["lr"]), int(config["batch-size"])
        rng = np.random.default_rng(int(config["server-round"]))
        losses = []
        for _ in range(int(config["local-epochs"])):
            perm = rng.permutation(len(self.y))
            for s in range(0, len(perm), bs):
                i = perm[s : s + bs]
                z = self.x[i] @ w + b
                p = np.exp(z - z.max(1, keepdims=True))
                p /= p.sum(1, keepdims=True)
                losses.append(-np.log(p[np.arange(len(i)), self.y[i]] + 1e-12).mean())
                p[np.arange(len(i)), self.y[i]] -= 1
                w -= lr * self.x[i].T @ p / len(i)
                b -= lr * p.mean(0)
        out = [w.astype(np.float32), b.astype(np.float32)]
        return out, len(self.y), {"train-loss": float(np.mean(losses))}

    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple:
        z = _logits(parameters, self.x)
        acc = float((z.argmax(1) == self.y).mean())
        return 1.0 - acc, len(self.y), {"accuracy": acc}


def client_fn(context: Context) -> Any:
    cfg = context.node_config
    SEEN.append(dict(cfg))
    role = str(cfg.get("flobc-role", "trainer"))
    x, y = load_partition(int(cfg["partition-id"]), int(cfg["num-partitions"]), role)
    return DigitsClient(x, y).to_client()


app = ClientApp(client_fn=client_fn)
