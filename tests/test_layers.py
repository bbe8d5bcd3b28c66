"""Layers point down: which package may import which, read from the source, and the worker
modules importable with no Redis settings and no Redis (a subprocess, so nothing is cached)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "shared",
    "scheduler_api",
    "scheduler_beat",
    "workers",
    "scheduler_cli",
    "scheduler_sdk",
)
# What each package may import of ours (itself included); scheduler_cli is the top.
ALLOWED = {
    "shared": {"shared"},
    "scheduler_beat": {"scheduler_beat", "shared"},
    "workers": {"workers", "shared"},
    "scheduler_api": {"scheduler_api", "shared"},
    "scheduler_cli": set(PACKAGES),
    # A client installed apart from the service: it talks HTTP to it, and imports none of it.
    "scheduler_sdk": {"scheduler_sdk"},
}


def imported_packages(path: Path) -> set[str]:
    """Our top-level packages that the module at ``path`` imports (anywhere in it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names)
    return found & set(PACKAGES)


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - ALLOWED[package])
        for path in modules(package)
        if imported_packages(path) - ALLOWED[package]
    }
    assert wrong == {}


def test_every_worker_module_imports_without_redis(tmp_path: Path) -> None:
    names = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in modules("workers")
        if path.name != "__init__.py"
    ]
    # No Redis settings (an empty data folder: no embedded server's URL either), and any
    # attempt to open a connection while importing fails the import loudly.
    probe = (
        "import importlib, socket, sys\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError(f'connection attempted at import: {args}')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "print('imported', len(sys.argv) - 1)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "REDIS_URL"))}
    env.update(SCHEDULER_DATA_DIR=str(tmp_path), CELERY_BROKER_URL="")
    result = subprocess.run(
        [sys.executable, "-c", probe, *names],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"imported {len(names)}"
    assert len(names) >= 8  # the pools, the gate, the runner, the context, http, ...


DIALECTS = ("webhook_jobs", "push_schedules", "task_scheduler", "beacon_jobs", "native")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_dialect_never_imports_another(dialect: str) -> None:
    """What two dialects need goes one layer down (scheduler_api.adapter or shared)."""
    others = {f"scheduler_api.{other}" for other in DIALECTS if other != dialect}
    wrong = {}
    for path in modules(f"scheduler_api/{dialect}"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                hits = {o for o in others if node.module == o or node.module.startswith(o + ".")}
                if hits:
                    wrong[str(path.relative_to(ROOT))] = sorted(hits)
    assert wrong == {}
