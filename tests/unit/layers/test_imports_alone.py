"""Every module of the gateway imports on its own, in a fresh interpreter.

An import cycle between packages can hide behind import order (the first import of a package
happens to pull the other one in first); a fresh interpreter per module shows it. The layers
themselves are checked by import-linter in `make test` (pyproject.toml, [tool.importlinter]).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _root_packages() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["importlinter"]["root_packages"]
    assert isinstance(packages, list)
    return [str(p) for p in packages]


def _modules() -> list[str]:
    found = []
    for package in _root_packages():
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__main__":  # running it is the CLI, not an import
                continue
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _import_alone(module: str) -> tuple[str, str | None]:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode == 0:
        return module, None
    return module, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"


def test_the_layer_config_names_every_top_level_package() -> None:
    packages = {
        p.name
        for p in REPO.iterdir()
        if (p / "__init__.py").is_file() and p.name not in {"tests", "benchmarks", "scripts"}
    }
    assert packages == set(_root_packages())


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = _modules()
    assert len(modules) > 100  # the walk found the packages
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = {m: err for m, err in pool.map(_import_alone, modules) if err is not None}
    assert failures == {}
