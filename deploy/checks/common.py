"""Helpers shared by the deploy checks that scripts/check-deploy.sh runs.

Each check collects every problem it finds (not only the first), prints them
with the file they concern and exits non-zero, so one CI run shows all of them.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


class Problems:
    """Problems found by one check, reported together at the end."""

    def __init__(self, check: str) -> None:
        self.check = check
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")

    def expect(self, ok: bool, where: str, what: str) -> bool:
        if not ok:
            self.add(where, what)
        return ok

    def finish(self, summary: str) -> None:
        if self.items:
            for item in self.items:
                print(f"  FAIL {item}", file=sys.stderr)
            print(f"{self.check}: {len(self.items)} problem(s)", file=sys.stderr)
            sys.exit(1)
        print(f"{self.check}: ok ({summary})")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def load_yaml(path: Path) -> object:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_docs(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_toml(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def env_refs(value: object) -> set[str]:
    """Names of every `{ env = "NAME" }` secret in a parsed botq config."""
    found: set[str] = set()
    if isinstance(value, dict):
        if set(value) == {"env"} and isinstance(value["env"], str):
            found.add(value["env"])
        for v in value.values():
            found |= env_refs(v)
    elif isinstance(value, list):
        for v in value:
            found |= env_refs(v)
    return found


def emitted_metrics() -> set[str]:
    """Metric names the Rust code registers (string literals `"botq_…"` in crates/)."""
    names: set[str] = set()
    for src in (ROOT / "crates").rglob("*.rs"):
        names.update(re.findall(r'"(botq_[a-z0-9_]+)"', src.read_text(encoding="utf-8")))
    return names


def recorded_series(rules_path: Path) -> set[str]:
    """Series recorded by the Prometheus rules file."""
    rules = load_yaml(rules_path) or {}
    return {r["record"] for g in rules.get("groups", []) for r in g.get("rules", []) if "record" in r}


HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def unknown_series(expr: str, known: set[str]) -> set[str]:
    """botq series named in a PromQL expression that nothing produces.

    A histogram `botq_x_seconds` is exposed as `_bucket`, `_sum` and `_count`.
    """
    unknown = set()
    for name in re.findall(r"\bbotq[_:][a-zA-Z0-9_:]+", expr):
        base = name
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in known:
                base = name[: -len(suffix)]
        if base not in known:
            unknown.add(name)
    return unknown
