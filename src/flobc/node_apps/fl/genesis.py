"""Build the FL part of a genesis document from a run configuration."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from flobc.app.fl.app import FLApp
from flobc.encoding import sha256
from flobc.ml.plugins import is_callable_ref
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.trainer_core import dataset, make_learner
from flobc.weights_codec import as_wire_vector, encode_vector

#: Honest trainers may declare up to this many times the local steps of a full pass.
STEP_MARGIN = 2


def max_local_steps(cfg: FLRunConfig, n_train: int) -> int:
    """The most local steps an update may declare: a margin over what training for the
    configured epochs (or steps) on the whole training set would take, and at least the
    SSP extension's extra steps."""
    t = cfg.training
    full = t.steps or max(1, t.epochs) * math.ceil(n_train / t.batch_size)
    return STEP_MARGIN * (full + cfg.sync.ssp_max_extra_steps)


def fl_app_state(cfg: FLRunConfig, trainer_keys: list[str]) -> tuple[dict[str, Any], bytes]:
    """``(app_state, initial_weights_blob)``: the genesis app state and the version-0 weights.

    The initial weights come from the model's seeded initialisation; every validator must
    hold the blob (its hash is in the genesis), so callers copy it into their blob stores.
    """
    ds = dataset(cfg)
    learner = make_learner(cfg, cfg.seed)
    w0 = as_wire_vector(learner.get_weights())
    warn_if_unseeded(cfg, w0)
    blob = encode_vector(w0)
    s, r, a = cfg.sync, cfg.reputation, cfg.aggregation
    rule, rule_params = cfg.validation_rule()
    fl = {
        "model": {
            "name": cfg.model.name,
            "input_shape": list(ds.input_shape),
            "num_classes": ds.num_classes,
            "spec_json": learner.spec.to_json(),
            "size": int(w0.size),
            "initial_weights": sha256(blob).hex(),
        },
        "trainers": list(trainer_keys),
        "open_registration": cfg.open_registration,
        "validation": rule,
        "validation_params": rule_params,
        "max_local_steps": max_local_steps(cfg, len(ds.x_train)),
        "reputation": r.policy,
        "reputation_params": (
            {"reward": r.reward, "penalty": r.penalty} if r.policy == "reward_penalty" else {}
        ),
        "weight_by_samples": a.weight_by_samples,
        "server_lr": a.server_lr,
        "aggregator": a.rule,
        "aggregator_params": dict(a.params),
        "clip_multiplier": a.clip_multiplier,
        "sync": {
            "scheme": s.scheme,
            "period_ms": int(s.period_s * 1000),
            "wait_for_all": s.wait_for_all,
            "majority_ratio": s.majority_ratio,
            "max_round_ms": int(s.max_round_s * 1000) if s.max_round_s else None,
            "ssp_max_extra_steps": s.ssp_max_extra_steps,
            "asp_threshold": s.asp_threshold,
            "adaptive": s.adaptive,
            "adaptive_percentile": s.adaptive_percentile,
            "adaptive_min_ms": int(s.adaptive_min_s * 1000),
            "adaptive_max_ms": int(s.adaptive_max_s * 1000),
        },
    }
    p = cfg.privacy
    if p.enabled:
        fl["privacy"] = {
            "epsilon_budget": p.epsilon_budget,
            "delta": p.delta,
            "required": p.required,
            "min_noise_multiplier": p.min_noise_multiplier,
            "max_clip": p.max_clip,
        }
    return {"app": FLApp.name, "fl": fl}, blob


def warn_if_unseeded(cfg: FLRunConfig, w0: np.ndarray) -> bool:
    """Build a plug-in model a second time with the same seed; warn if the weights differ.

    A factory that ignores ``seed`` gives every run (and every node building it) a
    different genesis model, silently; built-in models are seeded, so only plug-ins are
    checked. Returns True when the warning was given.
    """
    if not is_callable_ref(cfg.model.name):
        return False
    again = as_wire_vector(make_learner(cfg, cfg.seed).get_weights())
    if np.array_equal(again, w0):
        return False
    logging.getLogger("flobc.fl").warning(
        "model plug-in %r ignores its seed: two builds with seed=%d gave different weights, "
        "so each run starts from a different genesis model; initialise from `seed` "
        "(e.g. torch.manual_seed(seed))",
        cfg.model.name,
        cfg.seed,
    )
    return True
