"""Node logging set-up: the human format, or one JSON object per line (``--log-format json``).

JSON lines let log shippers (Loki, Elasticsearch, ``jq``) read a node's log without a
regex; each line carries the node name so merged logs of a network stay attributable.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")


class JsonFormatter(logging.Formatter):
    """``{"time", "node", "level", "logger", "message"[, "exc"]}`` per record, one line each."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "node": self.node,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(node: str, level: str, fmt: LogFormat = "text") -> None:
    """Log to stderr at ``level`` in ``fmt``, replacing any handler already installed."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(node))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {node} %(levelname)s %(name)s: %(message)s")
        )
    logging.basicConfig(level=level, handlers=[handler], force=True)


__all__ = ["LOG_FORMATS", "JsonFormatter", "LogFormat", "configure_logging"]
