"""Checks deploy/grafana: the dashboard JSON against the provisioned datasource.

Every panel must query the provisioned Prometheus by its fixed uid, every
target must have a PromQL expression, and every botq series an expression
names must be one the code emits or the rules record. Grafana's variables
are not PromQL, so each expression is written out, with the variables
replaced by sample values, as a recording rule into the file given as the
first argument: `promtool check rules` on that file parses every expression.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

from common import ROOT, Problems, emitted_metrics, load_yaml, recorded_series, rel, unknown_series

DASHBOARDS = ROOT / "deploy/grafana/dashboards"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources"
PROVIDERS = ROOT / "deploy/grafana/provisioning/dashboards"
RULES = ROOT / "deploy/prometheus/rules.yml"
# Grafana's built-in interval variables, replaced by a valid range for parsing.
BUILTIN_INTERVALS = ("__rate_interval", "__interval", "__range")


def provisioned_prometheus(p: Problems) -> str | None:
    uids = []
    for path in sorted(DATASOURCES.glob("*.yml")):
        doc = load_yaml(path)
        p.expect(doc.get("apiVersion") == 1, rel(path), "apiVersion must be 1")
        for ds in doc.get("datasources", []):
            if p.expect(bool(ds.get("uid")), rel(path), f"datasource {ds.get('name')} has no fixed uid"):
                if ds.get("type") == "prometheus":
                    uids.append(ds["uid"])
    p.expect(len(uids) == 1, rel(DATASOURCES), f"want exactly one provisioned Prometheus datasource, found {uids}")
    return uids[0] if uids else None


def check_providers(p: Problems) -> None:
    for path in sorted(PROVIDERS.glob("*.yml")):
        doc = load_yaml(path)
        p.expect(doc.get("apiVersion") == 1, rel(path), "apiVersion must be 1")
        for prov in doc.get("providers", []):
            p.expect(prov.get("type") == "file", rel(path), f"provider {prov.get('name')} must be of type file")
            p.expect(bool(prov.get("options", {}).get("path")), rel(path), f"provider {prov.get('name')} has no path")


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Replaces Grafana variables ($v, ${v}, ${v:fmt}, [[v]]) with sample values."""

    def value(name: str) -> str:
        if name in BUILTIN_INTERVALS:
            return "5m"
        return variables.get(name, "x")

    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}", lambda m: value(m.group(1)), expr)
    expr = re.sub(r"\[\[(\w+)(?::\w+)?\]\]", lambda m: value(m.group(1)), expr)
    return re.sub(r"\$(\w+)", lambda m: value(m.group(1)), expr)


def walk_panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


def check_dashboard(path: Path, uid: str | None, known: set[str], p: Problems, rules: list[dict]) -> int:
    where = rel(path)
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        p.add(where, f"not JSON: {e}")
        return 0
    p.expect(bool(dash.get("uid")) and bool(dash.get("title")), where, "needs a uid and a title")
    p.expect(dash.get("id") is None, where, "must not carry a database id (provisioned dashboards get their own)")

    variables = {}
    for var in dash.get("templating", {}).get("list", []):
        name = var.get("name")
        if var.get("type") == "query":
            p.expect(
                var.get("datasource", {}).get("uid") == uid,
                where,
                f"variable {name}: datasource uid must be the provisioned {uid!r}",
            )
        variables[name] = var.get("allValue") or ".*"

    ids = set()
    count = 0
    for panel in walk_panels(dash.get("panels", [])):
        at = f"{where} panel {panel.get('id')} ({panel.get('title')!r})"
        p.expect(panel.get("id") not in ids, at, "duplicate panel id")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        p.expect(grid.get("x", 0) + grid.get("w", 0) <= 24 and grid.get("h", 0) > 0, at, f"bad gridPos {grid}")
        if panel.get("type") == "row":
            continue
        count += 1
        ds = panel.get("datasource") or {}
        p.expect(ds.get("uid") == uid, at, f"datasource uid {ds.get('uid')!r} is not the provisioned {uid!r}")
        targets = panel.get("targets") or []
        p.expect(bool(targets), at, "has no targets")
        refids = set()
        for target in targets:
            ref = target.get("refId")
            tat = f"{at} target {ref}"
            p.expect(ref not in refids, tat, "duplicate refId")
            refids.add(ref)
            tds = target.get("datasource")
            if tds is not None:
                p.expect(tds.get("uid") == uid, tat, f"datasource uid {tds.get('uid')!r} is not {uid!r}")
            expr = (target.get("expr") or "").strip()
            if not p.expect(bool(expr), tat, "empty expr"):
                continue
            unknown = unknown_series(expr, known)
            p.expect(not unknown, tat, f"series nothing emits or records: {sorted(unknown)}")
            record = f"botq_dashboard:{dash.get('uid', 'x').replace('-', '_')}_panel{panel.get('id')}_{ref}"
            rules.append({"record": record, "expr": substitute(expr, variables)})
    p.expect(count > 0, where, "has no panels")
    return count


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: dashboard.py RULES_OUT.yml")
    p = Problems("grafana dashboards")
    uid = provisioned_prometheus(p)
    check_providers(p)
    known = emitted_metrics() | recorded_series(RULES) | {"up"}
    # The alert and recording rules may only use series that exist, too.
    for group in load_yaml(RULES).get("groups", []):
        for rule in group.get("rules", []):
            unknown = unknown_series(rule["expr"], known)
            name = rule.get("record") or rule.get("alert")
            p.expect(not unknown, f"{rel(RULES)} {name}", f"series nothing emits or records: {sorted(unknown)}")
    rules: list[dict] = []
    dashboards = sorted(DASHBOARDS.glob("*.json"))
    p.expect(bool(dashboards), rel(DASHBOARDS), "no dashboards")
    panels = sum(check_dashboard(path, uid, known, p, rules) for path in dashboards)
    out = Path(sys.argv[1])
    out.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, sort_keys=False))
    p.finish(f"{len(dashboards)} dashboard(s), {panels} panels, {len(rules)} expressions written to {out.name}")


if __name__ == "__main__":
    main()
