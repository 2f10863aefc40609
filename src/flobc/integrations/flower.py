"""Run an existing Flower client, unchanged, as a FLoBC trainer.

A Flower user already has a ``client_fn(context)`` returning a ``NumPyClient`` (or a
``Client``), or a ``ClientApp`` (built from a ``client_fn`` or with ``@app.train()`` /
``@app.evaluate()`` message handlers). FLoBC drives it the way a Flower SuperNode would:

* one :class:`flwr.app.Context` per node, ``node_config = {"partition-id": i,
  "num-partitions": n}`` (``i`` = trainer index, ``n`` = trainers), so ``client_fn``
  loads its partition as usual; ``run_config`` holds ``lr``, ``batch-size``,
  ``local-epochs`` and ``[training] flower_run_config``;
* each round a ``train`` message (or ``fit(parameters, config)``) with the base model and
  ``config = {"server-round", "lr", "batch-size", "local-epochs"} | flower_config``;
* the reply's arrays become the trainer's local model; FLoBC computes Δ, signs and uploads.

FLoBC's weights are one flat float32 vector; the client sees a list of arrays (or a named
:class:`ArrayRecord`) in its own order. Which model spec the genesis uses:

* ``[model] name`` = a FLoBC model (zoo name or plug-in) whose parameters match the
  client's, in order and shape (for a ``ClientApp`` with message handlers also by name:
  its ``state_dict`` keys). Validators score updates with that model on their own data.
  :func:`torch_module` wraps a Flower task's zero-argument ``Net`` class as such a plug-in.
* ``[model] name = "flower"``: the model comes from the client: spec and initial weights
  from ``get_parameters`` of partition 0 (``NumPyClient`` / ``Client`` only), and every
  score, validators' included, comes from the client's ``evaluate`` on the data its
  ``client_fn`` loads (validator ``v`` gets ``partition-id = v`` and
  ``node_config["flobc-role"] = "validator"``).

Flower is an optional extra: ``pip install 'flobc[flower]'``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from flobc.ml.plugins import resolve_callable
from flobc.ml.train import AdapterLearner, Learner, TrainConfig
from flobc.ml.weights import ModelSpec, TensorSpec, flatten, unflatten

#: ``[model] name`` that takes the model from the Flower client itself.
FLOWER_MODEL = "flower"
Arrays = dict[str, np.ndarray]


def require_flwr() -> Any:
    """Import ``flwr`` or say how to get it."""
    try:
        import flwr
    except ImportError as exc:
        raise ImportError(
            "this configuration runs a Flower client; install the extra: "
            "pip install 'flobc[flower]'"
        ) from exc
    return flwr


class FlowerClientRunner:
    """Delivers train and evaluate requests to one Flower client, as a SuperNode would."""

    def __init__(self, target: Any, context: Any) -> None:
        from flwr.client import NumPyClient
        from flwr.clientapp import ClientApp

        self.context = context
        self.target = target
        self._app: Any = target if isinstance(target, ClientApp) else None
        self._numpy_client_type = NumPyClient
        if self._app is None and not callable(target):
            raise TypeError(f"not a Flower ClientApp or client_fn: {target!r}")

    @property
    def message_api(self) -> bool:
        """Whether the client is a ``ClientApp`` with ``@app.train()`` handlers (no legacy
        ``client_fn``): it receives named ``ArrayRecord`` messages."""
        return self._app is not None and self._app._call is None  # ClientApp(client_fn=...)

    def _client(self) -> Any:
        """A fresh ``Client`` for this request (Flower calls ``client_fn`` per message)."""
        client = self.target(self.context)
        return client.to_client() if isinstance(client, self._numpy_client_type) else client

    def get_parameters(self) -> list[np.ndarray]:
        if self.message_api:
            raise ValueError(
                "a ClientApp has no get_parameters; set [model] name to a FLoBC model with "
                "the client's parameters (e.g. flobc.integrations.flower:torch_module with "
                "[model.options] module = 'pkg.task:Net')"
            )
        from flwr.common import GetParametersIns, parameters_to_ndarrays

        ins = GetParametersIns(config={})
        if self._app is not None:
            from flwr.common import MessageTypeLegacy
            from flwr.compat.common import recorddict_compat as compat

            out = self._call(
                compat.getparametersins_to_recorddict(ins), MessageTypeLegacy.GET_PARAMETERS
            )
            res = compat.recorddict_to_getparametersres(out, keep_input=False)
        else:
            res = self._client().get_parameters(ins)
        return parameters_to_ndarrays(res.parameters)

    def fit(self, arrays: Arrays, config: dict[str, Any]) -> tuple[Any, int, dict[str, Any]]:
        """``(arrays, num_examples, metrics)``; arrays named (message API) or a list."""
        if self.message_api:
            reply = self._send("train", arrays, config)
            metrics = dict(reply.get("metrics", {}))
            rec = next(r for r in reply.array_records.values())
            named = {k: v.numpy() for k, v in rec.items()}
            return named, int(metrics.get("num-examples", 0)), metrics
        from flwr.common import FitIns, ndarrays_to_parameters, parameters_to_ndarrays

        ins = FitIns(ndarrays_to_parameters(list(arrays.values())), config)
        res = self._legacy(ins, "train") if self._app is not None else self._client().fit(ins)
        return parameters_to_ndarrays(res.parameters), res.num_examples, dict(res.metrics)

    def evaluate(self, arrays: Arrays, config: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """``(loss, metrics)`` of the client's own evaluation."""
        if self.message_api:
            metrics = dict(self._send("evaluate", arrays, config).get("metrics", {}))
            return float(metrics.get("loss", math.nan)), metrics
        from flwr.common import EvaluateIns, ndarrays_to_parameters

        ins = EvaluateIns(ndarrays_to_parameters(list(arrays.values())), config)
        res = (
            self._legacy(ins, "evaluate") if self._app is not None else self._client().evaluate(ins)
        )
        return float(res.loss), dict(res.metrics)

    def _message(self, content: Any, kind: str) -> Any:
        from flwr.app import Message, Metadata

        meta = Metadata(
            run_id=self.context.run_id,
            message_id=f"flobc-{kind}-{time.time_ns()}",
            src_node_id=0,
            dst_node_id=self.context.node_id,
            reply_to_message_id="",
            group_id="",
            created_at=time.time(),
            ttl=3600.0,
            message_type=kind,
        )
        return Message(content=content, metadata=meta)

    def _call(self, content: Any, kind: str) -> Any:
        reply = self._app(self._message(content, kind), self.context)
        if reply.has_error():
            raise RuntimeError(f"Flower client failed on {kind}: {reply.error.reason}")
        return reply.content

    def _send(self, kind: str, arrays: Arrays, config: dict[str, Any]) -> Any:
        from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

        record = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in arrays.items()})
        return self._call(RecordDict({"arrays": record, "config": ConfigRecord(config)}), kind)

    def _legacy(self, ins: Any, kind: str) -> Any:
        """A ``ClientApp(client_fn=...)``: legacy records through the app itself (its mods run)."""
        from flwr.compat.common import recorddict_compat as compat

        if kind == "train":
            out = self._call(compat.fitins_to_recorddict(ins, keep_input=True), kind)
            return compat.recorddict_to_fitres(out, keep_input=False)
        out = self._call(compat.evaluateins_to_recorddict(ins, keep_input=True), kind)
        return compat.recorddict_to_evaluateres(out)


class _FlatWeights:
    """The flat-vector side of the adapter: FLoBC's weights, held as one vector."""

    def __init__(self, spec: ModelSpec, initial: np.ndarray) -> None:
        self.spec = spec
        self.vec = np.ascontiguousarray(initial, dtype=np.float32).copy()

    def get_weights(self) -> np.ndarray:
        return self.vec.copy()

    def set_weights(self, vec: np.ndarray) -> None:
        v = np.asarray(vec, dtype=np.float32)
        if v.shape != (self.spec.size,):
            raise ValueError(f"weights of size {v.size}, the model has {self.spec.size}")
        self.vec = v.copy()


def arrays_to_vector(arrays: Any, spec: ModelSpec) -> np.ndarray:
    """A client's arrays (named, or a list in its order) as FLoBC's flat vector."""
    if isinstance(arrays, Mapping) and set(spec.names) <= set(arrays):
        return flatten(arrays, spec)
    values = list(arrays.values()) if isinstance(arrays, Mapping) else list(arrays)
    if len(values) != len(spec.tensors):
        raise ValueError(
            f"the Flower client has {len(values)} arrays, the FLoBC model {len(spec.tensors)} "
            f"({', '.join(spec.names)}); [model] must match the client's parameters"
        )
    return flatten({t.name: v for t, v in zip(spec.tensors, values, strict=True)}, spec)


def spec_from_client_arrays(arrays: Sequence[np.ndarray]) -> ModelSpec:
    """A spec for a client's ``get_parameters`` list: tensors ``p0, p1, ...`` in its order."""
    return ModelSpec(
        tuple(
            TensorSpec(f"p{i}", tuple(int(d) for d in a.shape), "float32")
            for i, a in enumerate(arrays)
        )
    )


class FlowerLearner(AdapterLearner):
    """The FLoBC learner interface over a Flower client.

    ``train`` sends the current weights to the client's fit and keeps what it returns;
    ``evaluate`` uses the FLoBC ``scorer`` model when there is one (validators' own data),
    otherwise the client's evaluate on its own data.
    """

    def __init__(
        self,
        runner: FlowerClientRunner,
        spec: ModelSpec,
        initial: np.ndarray,
        scorer: Learner | None,
        config: TrainConfig,
        fit_config: Mapping[str, Any],
    ) -> None:
        super().__init__(runner, _FlatWeights(spec, initial), config, None, None)
        self.runner = runner
        self.scorer = scorer
        self.fit_config = dict(fit_config)
        self.rounds = 0

    def _arrays(self) -> Arrays:
        return unflatten(self.adapter.vec, self.spec)

    def _config(
        self, epochs: int | None, steps: int | None, lr: float | None, bs: int | None
    ) -> dict[str, Any]:
        c = self.config
        cfg: dict[str, Any] = {
            "server-round": self.rounds,
            "lr": float(c.lr if lr is None else lr),
            "batch-size": int(c.batch_size if bs is None else bs),
            "local-epochs": int(c.epochs if epochs is None else epochs),
        }
        if steps is not None:
            cfg["local-steps"] = int(steps)
        return cfg | self.fit_config

    def train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int | None = None,
        steps: int | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        optimizer: str | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """One Flower fit from the current weights. ``x, y`` are ignored: the client loads
        its own partition. ``server-round`` counts this learner's fits (the FLoBC version
        + 1 under BSP)."""
        self.rounds += 1
        cfg = self._config(epochs, steps, lr, batch_size)
        t0 = time.perf_counter()
        arrays, n, metrics = self.runner.fit(self._arrays(), cfg)
        self.adapter.set_weights(arrays_to_vector(arrays, self.spec))
        loss = metrics.get("train-loss", metrics.get("train_loss", metrics.get("loss", math.nan)))
        done = (
            steps if steps is not None else cfg["local-epochs"] * math.ceil(n / cfg["batch-size"])
        )
        return {
            "loss": float(loss),
            "steps": int(done) if n or steps is not None else 0,
            "epochs": float(cfg["local-epochs"]),
            "samples": n,
            "seconds": time.perf_counter() - t0,
            "flower_metrics": metrics,
        }

    @property
    def own_evaluation(self) -> bool:
        """True when only :meth:`evaluate` (the client's own) can score: no FLoBC model
        to compute logits with, so validators must not batch forward passes."""
        return self.scorer is None

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.scorer is None:
            raise ValueError("with [model] name = 'flower' FLoBC cannot run the model itself")
        self.scorer.set_weights(self.adapter.vec)
        return self.scorer.predict(x)

    def evaluate(self, x: np.ndarray, y: np.ndarray, metric: str = "accuracy") -> float:
        if self.scorer is not None:
            self.scorer.set_weights(self.adapter.vec)
            return self.scorer.evaluate(x, y, metric)
        loss, metrics = self.runner.evaluate(self._arrays(), self._config(None, None, None, None))
        if metric == "loss":
            return loss
        if metric not in metrics:
            raise ValueError(
                f"the Flower client's evaluate reports {sorted(metrics)}, not {metric!r}; "
                "set [training] metric to one of them"
            )
        return float(metrics[metric])


def flower_context(
    partition: int,
    partitions: int,
    run_config: Mapping[str, Any],
    role: str = "trainer",
) -> Any:
    """The :class:`flwr.app.Context` a SuperNode would give partition ``partition``."""
    from flwr.app import Context, RecordDict

    node_config: dict[str, Any] = {"partition-id": partition, "num-partitions": partitions}
    if role != "trainer":
        node_config["flobc-role"] = role
    return Context(
        run_id=1,
        node_id=partition + 1,
        node_config=node_config,
        state=RecordDict(),
        run_config=dict(run_config),
    )


def flower_learner(
    ref: str,
    *,
    partition: int,
    partitions: int,
    role: str,
    scorer: Learner | None,
    config: TrainConfig,
    run_config: Mapping[str, Any] | None = None,
    fit_config: Mapping[str, Any] | None = None,
) -> FlowerLearner:
    """A learner running the Flower client ``ref`` (``"pkg.module:client_fn"`` or
    ``"pkg.module:app"``) as node ``partition`` of ``partitions``.

    Without a ``scorer`` (``[model] name = "flower"``) the spec and initial weights come from
    the client's ``get_parameters``, with torch and NumPy seeded from ``config.seed`` so
    every node derives the same genesis model.
    """
    require_flwr()
    runs = {
        "lr": config.lr,
        "batch-size": config.batch_size,
        "local-epochs": config.epochs,
        **(run_config or {}),
    }
    context = flower_context(partition, partitions, runs, role)
    runner = FlowerClientRunner(resolve_callable(ref), context)
    if scorer is not None:
        spec, initial = scorer.spec, scorer.get_weights()
        if not runner.message_api:
            _check_shapes(runner, spec)
    else:
        _seed_all(config.seed)
        params = runner.get_parameters()
        spec = spec_from_client_arrays(params)
        initial = arrays_to_vector(params, spec)
    return FlowerLearner(runner, spec, initial, scorer, config, fit_config or {})


def _check_shapes(runner: FlowerClientRunner, spec: ModelSpec) -> None:
    """Fail at start, with the two shape lists, if ``[model]`` is not the client's model.
    A client without ``get_parameters`` (optional in Flower) is checked at its first fit."""
    try:
        params = runner.get_parameters()
    except Exception:  # the client does not implement it: nothing to compare yet
        return
    got = [tuple(p.shape) for p in params]
    want = [t.shape for t in spec.tensors]
    if got != want:
        raise ValueError(
            f"the Flower client's parameters {got} differ from the FLoBC model's {want}: "
            "[model] must match the client's parameters, or use [model] name = 'flower'"
        )


def _seed_all(seed: int) -> None:
    import sys

    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def torch_module(
    input_shape: Sequence[int], num_classes: int, seed: int = 0, *, module: str, **kwargs: Any
) -> Any:
    """Model plug-in for a Flower task's ``nn.Module`` class (usually ``Net()``, no
    arguments): ``[model] name = "flobc.integrations.flower:torch_module"`` with
    ``[model.options] module = "pkg.task:Net"``. Seeded, so every node builds the same
    genesis model; the state-dict keys match what the client's ``ClientApp`` loads."""
    import torch

    cls: Callable[..., Any] = resolve_callable(module)
    torch.manual_seed(seed)
    return cls(**kwargs)
