"""The gateway's parts as their supervisor last wrote them, for the console.

`offload run` writes `<data_dir>/run/state.json` and `offload serve` writes
`<data_dir>/serve/state.json` (`offload.supervisor`): per part its state, pid, restarts and
last exit code. This module only reads those files (the read side never writes); the one of a
live supervisor wins, `offload run`'s first.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from plumbing.processes import same_process

logger = logging.getLogger(__name__)

STATE_FILES = ("run", "serve")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("console: cannot read supervisor state %s: %s", path, exc)
        return None
    return doc if isinstance(doc, dict) else None


def supervised_parts(data_dir: Path) -> dict[str, Any]:
    """The parts of the live supervisor (or of the last one, marked not running).

    Returns:
        {"supervisor": "run" | "serve" | None, "supervisor_running": bool, "state_file": str,
        "parts": [{"name", "state", "pid", "restarts", "last_exit_code", "since"}, ...]}
    """
    found: list[tuple[str, Path, dict[str, Any]]] = []
    for kind in STATE_FILES:
        path = data_dir / kind / "state.json"
        doc = _read(path)
        if doc is not None:
            found.append((kind, path, doc))
    if not found:
        return {"supervisor": None, "supervisor_running": False, "state_file": None, "parts": []}
    live = [
        f for f in found if same_process(f[2].get("supervisor_pid"), f[2].get("supervisor_started"))
    ]
    kind, path, doc = (live or found)[0]
    running = bool(live)
    raw = doc.get("parts")
    parts = []
    for name, info in (raw if isinstance(raw, dict) else {}).items():
        if not isinstance(info, dict):
            continue
        state = str(info.get("state"))
        if not running:
            state = "stopped"
        elif info.get("pid") and not same_process(info.get("pid"), info.get("pid_started")):
            state = "gone"
        parts.append(
            {
                "name": str(name),
                "state": state,
                "pid": info.get("pid"),
                "restarts": info.get("restarts"),
                "last_exit_code": info.get("last_exit_code"),
                "since": info.get("since"),
            }
        )
    return {
        "supervisor": kind,
        "supervisor_running": running,
        "state_file": str(path),
        "parts": parts,
    }
