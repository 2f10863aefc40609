"""The FL part of a validator's OpenAPI document: the paths of the FL API and FL
dashboard lists, ``GET /v1/subnets``, and the structs their answers are described by.

With model subnetworks every FL read takes ``?subnet=NAME`` (an enum of the network's
subnetworks, required when there are several); a single-model document has no such
parameter."""

from __future__ import annotations

from typing import Any

from flobc.app.fl.config import FLConfig
from flobc.app.fl.state import UpdateInfo
from flobc.node import openapi as oa
from flobc.node.hosting import OpenApiFragment
from flobc.node_apps.fl import api_schemas as s

_VERSION = oa.path_param("version", oa.UINT63, "Model version number (0 is the genesis model).")


def _subnet_param(names: tuple[str, ...]) -> dict[str, Any]:
    """``?subnet=`` of a network with these model subnetworks: one of them, required when
    there are several."""
    return {
        **oa.query_param(
            "subnet",
            {"type": "string", "enum": list(names)},
            "The model subnetwork (see `/v1/subnets`); optional when there is only one.",
        ),
        "required": len(names) > 1,
    }


def fl_paths(subnets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The FL routes; with model ``subnets`` every read takes ``?subnet=NAME`` (a 400
    names the parameter when it is unknown, or missing with several subnetworks)."""
    paths = _model_paths()
    for path in paths.values():
        op = path.get("get")
        if op is not None and subnets:
            op["parameters"] = [*op.get("parameters", []), _subnet_param(subnets)]
            op["responses"].setdefault(
                "400", oa.error_answer("`subnet` is unknown, or missing with several subnetworks.")
            )
    paths["/v1/subnets"] = oa.get_operation(
        "The model subnetworks in genesis order (empty for a single-model network).",
        oa.json_answer({"type": "array", "items": oa.ref("SubnetDoc")}, "The subnetworks."),
    )
    return paths


def _model_paths() -> dict[str, Any]:
    version = oa.json_answer(oa.ref("VersionDoc"), "The model version.")
    update_id = oa.path_param("id", {"type": "string"}, "Update id (its tx hash, hex).")
    positive = {"type": "integer", "minimum": 1}
    return {
        "/v1/models": {
            "get": {
                "summary": "Model versions `since..since+limit-1`, each with its validation "
                "scores (the validators' `base_score` votes of updates trained from it).",
                "parameters": [
                    oa.query_param("since", oa.NATURAL, "First version (default 0)."),
                    oa.query_param(
                        "limit", positive, "At most this many versions (default and cap 1000)."
                    ),
                ],
                "responses": {
                    "200": oa.json_answer(
                        {"type": "array", "items": oa.ref("VersionListItemDoc")},
                        "The versions, oldest first (empty past the latest).",
                    ),
                    "400": oa.error_answer(
                        "A parameter is not an integer or is below its minimum."
                    ),
                    **oa.COMMON,
                },
            }
        },
        "/v1/models/latest": oa.get_operation("The latest model version.", version),
        "/v1/models/{version}": {
            "parameters": [_VERSION],
            **oa.get_operation(
                "A model version.", version, **{"404": oa.error_answer("No such version.")}
            ),
        },
        "/v1/models/{version}/weights": {
            "parameters": [_VERSION],
            **oa.get_operation(
                "The version's weights as safetensors.",
                {
                    "description": "safetensors bytes (`safetensors.torch.load` reads them).",
                    "headers": {
                        "X-Flobc-Version": {"schema": {"type": "string"}},
                        "X-Flobc-Weights-Hash": {"schema": {"type": "string"}},
                    },
                    "content": {
                        "application/octet-stream": {
                            "schema": {
                                "type": "string",
                                "contentMediaType": "application/octet-stream",
                            }
                        }
                    },
                },
                **{"404": oa.error_answer("No such version, or its weights are not on this node.")},
            ),
        },
        "/v1/trainers": oa.get_operation(
            "Trust, counts and round status of every trainer.",
            oa.json_answer(
                {"type": "array", "items": oa.ref("TrainerDoc")}, "Trainers in index order."
            ),
        ),
        "/v1/updates": {
            "get": {
                "summary": "Recent updates, newest first, each with every validator's vote.",
                "parameters": [
                    oa.query_param("round", oa.NATURAL, "Only updates of this round."),
                    oa.query_param(
                        "version", oa.NATURAL, "Only updates trained from this version."
                    ),
                    oa.query_param(
                        "status",
                        {"type": "string"},
                        "Only updates with this status (pending, accepted, rejected, skipped, "
                        "stale, superseded; any other value matches none).",
                    ),
                    oa.query_param(
                        "limit", positive, "At most this many updates (default 100, cap 1000)."
                    ),
                ],
                "responses": {
                    "200": oa.json_answer(
                        {"type": "array", "items": oa.ref("UpdateInfo")}, "The updates."
                    ),
                    "400": oa.error_answer(
                        "A parameter is not an integer or is below its minimum."
                    ),
                    **oa.COMMON,
                },
            },
            **oa.submission(
                "Upload a trainer's signed update and its Δ blob.",
                oa.SUBMISSION_NOTE + " An update carries exactly one blob.",
            ),
        },
        "/v1/updates/{id}": {
            "parameters": [update_id],
            **oa.get_operation(
                "An update's decision and every validator's vote.",
                oa.json_answer(oa.ref("UpdateInfo"), "The update."),
                **{"404": oa.error_answer("Unknown update.")},
            ),
        },
        "/v1/updates/{id}/delta": {
            "parameters": [update_id],
            **oa.get_operation(
                "The update's Δ blob (public, like the ledger it is on).",
                oa.bytes_answer(
                    "Raw little-endian float32 values, one per model parameter.",
                    "application/octet-stream",
                    **{"X-Flobc-Blob-Hash": "Hex SHA-256 of the blob (the update's `blob`)."},
                ),
                **{"404": oa.error_answer("Unknown update, or its blob is not on this node.")},
            ),
        },
        "/v1/round": {
            "get": {
                "summary": "The open round: scheme, deadline, ratios, counts.",
                "parameters": [
                    oa.query_param(
                        "updates",
                        {"type": "string"},
                        "Any value but empty, `0` or `false` adds `updates`: each trainer's "
                        "current update of the round.",
                    )
                ],
                "responses": {"200": oa.json_answer(oa.ref("RoundDoc"), "The round."), **oa.COMMON},
            }
        },
        "/v1/config": oa.get_operation(
            "The on-ledger FL configuration.",
            oa.json_answer(oa.ref("FLConfig"), "The genesis FL config."),
        ),
    }


def fl_openapi(subnets: tuple[str, ...] = ()) -> OpenApiFragment:
    """The FL paths (of a network with these model ``subnets``, if any) and the schemas
    they refer to."""
    return OpenApiFragment(
        paths=fl_paths(subnets),
        schemas=(
            s.VersionDoc,
            s.SubnetDoc,
            s.TrainerDoc,
            s.RoundDoc,
            s.VersionListItemDoc,
            UpdateInfo,
            FLConfig,
        ),
    )


__all__ = ["fl_openapi", "fl_paths"]
