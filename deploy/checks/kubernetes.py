"""Checks deploy/kubernetes: schemas first, then botq's own rules.

Schemas: every built-in resource is validated strictly (unknown fields are
errors) with kubernetes-validate against each Kubernetes version given on the
command line; KEDA resources against KEDA's CRD models (keda.py). A kind
neither knows is an error, never a skip.

botq's rules: probes on the admin port the service really listens on, the
hardened security context, a termination grace longer than the drain, a
ScaledObject that watches every shard stream of the config in the ConfigMap,
and names (Secrets, keys, labels) that line up across the files.
"""

from __future__ import annotations

import re
import sys
import tomllib

import kubernetes_validate

import keda
from common import ROOT, Problems, env_refs, load_toml, load_yaml, load_yaml_docs, rel

K8S = ROOT / "deploy/kubernetes"
EXAMPLE_CONFIG = ROOT / "deploy/botq.example.toml"
KEYS_RS = ROOT / "crates/botq-core/src/keys.rs"
# Deployment -> (admin port, config table whose shutdown_grace_secs it must outlast, default grace)
SERVICES = {"botq-ingest": (9090, "ingest", 10), "botq-worker": (9091, "worker", 20)}
REPLICAS = 2
UID = 10001


def kn(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def schema_check(files: dict, versions: list[str], p: Problems) -> int:
    checked = 0
    for path, docs in files.items():
        for doc in docs:
            at = f"{rel(path)} {kn(doc)}"
            if doc.get("apiVersion", "").startswith("keda.sh/"):
                for problem in keda.validate(doc):
                    p.add(at, f"KEDA {keda.KEDA_MODELS_VERSION} schema: {problem}")
                checked += 1
                continue
            for v in versions:
                try:
                    kubernetes_validate.validate(doc, v, strict=True)
                except kubernetes_validate.ValidationError as e:
                    path_ = ".".join(str(x) for x in e.path)
                    p.add(at, f"Kubernetes {v} schema: {path_}: {e.message}")
                except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.VersionNotSupportedError) as e:
                    p.add(at, f"cannot validate: {e}")
            checked += 1
    return checked


def config_keys_known(value: dict, example: dict, path: str, p: Problems, where: str) -> None:
    """Every key of the cluster config exists in deploy/botq.example.toml."""
    for key, v in value.items():
        at = f"{path}.{key}" if path else key
        if key not in example:
            p.add(where, f"botq.toml: {at} is not a key of {rel(EXAMPLE_CONFIG)}")
        elif isinstance(v, dict) and isinstance(example[key], dict) and example[key]:
            config_keys_known(v, example[key], at, p, where)
        elif isinstance(v, list) and isinstance(example[key], list):
            keys = set().union(*(e.keys() for e in example[key] if isinstance(e, dict)))
            for i, item in enumerate(v):
                for k in item:
                    if k not in keys and not re.search(rf"(?m)^#\s*{re.escape(k)}\s*=", EXAMPLE_CONFIG.read_text()):
                        p.add(where, f"botq.toml: {at}[{i}].{k} is not a key of {rel(EXAMPLE_CONFIG)}")


def port_number(container: dict, port: object) -> int | None:
    if isinstance(port, int):
        return port
    for cp in container.get("ports", []):
        if cp.get("name") == port:
            return cp["containerPort"]
    return None


def check_deployment(dep: dict, config: dict, p: Problems, where: str) -> dict:
    name = dep["metadata"]["name"]
    at = f"{where} {kn(dep)}"
    admin_port, table, default_grace = SERVICES[name]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    p.expect(spec.get("replicas") == REPLICAS, at, f"replicas must be {REPLICAS}")
    p.expect(
        all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
        at,
        "selector does not match pod labels",
    )
    grace = config.get(table, {}).get("shutdown_grace_secs", default_grace)
    p.expect(
        pod.get("terminationGracePeriodSeconds", 30) > grace,
        at,
        f"terminationGracePeriodSeconds must be longer than {table}.shutdown_grace_secs ({grace})",
    )
    pod_sc = pod.get("securityContext", {})
    annotations = spec["template"]["metadata"].get("annotations", {})
    p.expect(annotations.get("prometheus.io/port") == str(admin_port), at, f"prometheus.io/port must be {admin_port}")
    p.expect(annotations.get("prometheus.io/scrape") == "true", at, 'prometheus.io/scrape must be "true"')
    containers = pod.get("containers", [])
    p.expect(len(containers) == 1, at, "one container")
    for c in containers:
        cat = f"{at} container {c.get('name')}"
        image = c.get("image", "")
        p.expect(
            "@sha256:" in image or re.search(r":\d+\.\d+\.\d+$", image) is not None,
            cat,
            f"image {image!r} must be pinned to a version tag or a digest",
        )
        env = {e["name"]: e for e in c.get("env", [])}
        listen = env.get("BOTQ_ADMIN_LISTEN", {}).get("value", "")
        p.expect(
            listen == f"0.0.0.0:{admin_port}", cat, f"BOTQ_ADMIN_LISTEN must be 0.0.0.0:{admin_port}, got {listen!r}"
        )
        redis = env.get("BOTQ_REDIS_URL", {}).get("valueFrom", {}).get("secretKeyRef")
        p.expect(redis is not None, cat, "BOTQ_REDIS_URL must come from a Secret (it may carry a password)")
        for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
            get = c.get(probe, {}).get("httpGet", {})
            p.expect(get.get("path") == path, cat, f"{probe} must GET {path}")
            p.expect(
                port_number(c, get.get("port")) == admin_port, cat, f"{probe} must probe the admin port {admin_port}"
            )
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            p.expect({"cpu", "memory"} <= set(res.get(kind, {})), cat, f"resources.{kind} needs cpu and memory")
        sc = c.get("securityContext", {})
        # The container's setting wins over the pod's.
        sc_value = {**pod_sc, **sc}.get
        p.expect(sc_value("runAsNonRoot") is True, cat, "runAsNonRoot must be true")
        p.expect(sc_value("runAsUser") == UID, cat, f"runAsUser must be {UID} (the image's user)")
        p.expect(sc.get("readOnlyRootFilesystem") is True, cat, "readOnlyRootFilesystem must be true")
        p.expect(sc.get("allowPrivilegeEscalation") is False, cat, "allowPrivilegeEscalation must be false")
        p.expect("ALL" in sc.get("capabilities", {}).get("drop", []), cat, "capabilities must drop ALL")
        p.expect(
            (sc_value("seccompProfile") or {}).get("type") == "RuntimeDefault",
            cat,
            "seccompProfile must be RuntimeDefault",
        )
        mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        config_mounts = [
            m for n, m in mounts.items() if volumes.get(n, {}).get("configMap", {}).get("name") == "botq-config"
        ]
        p.expect(
            len(config_mounts) == 1 and config_mounts[0]["mountPath"] == "/etc/botq",
            cat,
            "ConfigMap botq-config must be mounted at /etc/botq",
        )
    return labels


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_scaledobject(by_kind: dict, config: dict, secrets: dict, p: Problems) -> None:
    """KEDA scales the worker on the lag of every shard stream of the config."""
    group = re.search(r'GROUP: &str = "([^"]+)"', KEYS_RS.read_text(encoding="utf-8"))
    so, so_where = by_kind.get("ScaledObject", {}).get("botq-worker", (None, ""))
    if not p.expect(so is not None, rel(K8S), "no ScaledObject botq-worker"):
        return
    if not p.expect(group is not None, rel(KEYS_RS), "consumer group constant GROUP not found"):
        return
    spec = so["spec"]
    p.expect(spec["scaleTargetRef"].get("name") == "botq-worker", so_where, "must scale Deployment botq-worker")
    p.expect(
        spec.get("minReplicaCount", 0) >= 1 and spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100),
        so_where,
        "needs 1 <= minReplicaCount <= maxReplicaCount",
    )
    p.expect("cooldownPeriod" in spec, so_where, "set cooldownPeriod")
    prefix, shards = config.get("key_prefix", "botq"), config.get("shards", 1)
    want = {f"{prefix}:{{q{i}}}:stream" for i in range(shards)}
    streams = set()
    auths = by_kind.get("TriggerAuthentication", {})
    for t in spec.get("triggers", []):
        md = t.get("metadata", {})
        streams.add(md.get("stream"))
        tat = f"{so_where} trigger {md.get('stream')}"
        p.expect(t.get("type") == "redis-streams", tat, "type must be redis-streams")
        p.expect(md.get("consumerGroup") == group.group(1), tat, f"consumerGroup must be {group.group(1)} (keys.rs)")
        p.expect("lagCount" in md, tat, "scale on lagCount (the group's lag)")
        auth = t.get("authenticationRef", {}).get("name")
        if p.expect(auth in auths, tat, f"authenticationRef {auth} is not a TriggerAuthentication here"):
            for ref in auths[auth][0]["spec"].get("secretTargetRef", []):
                p.expect(
                    ref["key"] in secrets.get(ref["name"], {}).get("stringData", {}),
                    auths[auth][1],
                    f"{ref['parameter']} reads {ref['name']}/{ref['key']}, not in secret.example.yaml",
                )
    p.expect(streams == want, so_where, f"triggers watch {sorted(streams)}; shards = {shards} needs {sorted(want)}")


def main() -> None:
    versions = sys.argv[1:]
    if not versions:
        sys.exit("usage: kubernetes.py K8S_VERSION...")
    p = Problems("kubernetes manifests")
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = kustomization.get("resources", [])
    manifests = sorted(f for f in K8S.glob("*.yaml") if f.name != "kustomization.yaml")
    files = {f: load_yaml_docs(f) for f in manifests}
    checked = schema_check(files, versions, p)

    # kustomization: every manifest applied except the examples; nothing missing.
    for f in manifests:
        example = f.name.endswith(".example.yaml")
        if example:
            p.expect(f.name not in listed, rel(K8S / "kustomization.yaml"), f"must not apply {f.name}")
        else:
            p.expect(f.name in listed, rel(K8S / "kustomization.yaml"), f"does not list {f.name}")
    for name in listed:
        p.expect((K8S / name).exists(), rel(K8S / "kustomization.yaml"), f"lists a missing file {name}")

    by_kind: dict[str, dict[str, tuple[dict, str]]] = {}
    for f, docs in files.items():
        for doc in docs:
            by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = (doc, rel(f))

    cm, cm_where = by_kind.get("ConfigMap", {}).get("botq-config", (None, ""))
    config: dict = {}
    if p.expect(cm is not None, rel(K8S), "no ConfigMap botq-config"):
        try:
            config = tomllib.loads(cm["data"]["botq.toml"])
        except (KeyError, tomllib.TOMLDecodeError) as e:
            p.add(cm_where, f"data.botq.toml does not parse: {e}")
        config_keys_known(config, load_toml(EXAMPLE_CONFIG), "", p, cm_where)

    secrets = {name: doc for name, (doc, _) in by_kind.get("Secret", {}).items()}
    bot_secret = secrets.get("botq-secrets", {}).get("stringData", {})
    missing = env_refs(config) - set(bot_secret)
    p.expect(not missing, "deploy/kubernetes/secret.example.yaml", f"botq-secrets lacks {sorted(missing)}")

    deployments = by_kind.get("Deployment", {})
    p.expect(set(deployments) == set(SERVICES), rel(K8S), f"Deployments must be {sorted(SERVICES)}")
    pod_labels = {}
    for name, (dep, where) in deployments.items():
        if name in SERVICES:
            pod_labels[name] = check_deployment(dep, config, p, where)
            for c in dep["spec"]["template"]["spec"]["containers"]:
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        p.expect(
                            ref["key"] in secrets.get(ref["name"], {}).get("stringData", {}),
                            where,
                            f"{e['name']} reads {ref['name']}/{ref['key']}, which secret.example.yaml lacks",
                        )
                for ef in c.get("envFrom", []):
                    ref = ef.get("secretRef", {}).get("name")
                    p.expect(
                        ref is None or ref in secrets, where, f"envFrom Secret {ref} is not in secret.example.yaml"
                    )

    # Every Deployment has a PodDisruptionBudget; ingest has its Service.
    pdbs = by_kind.get("PodDisruptionBudget", {})
    for name, labels in pod_labels.items():
        p.expect(
            any(selects(pdb["spec"].get("selector", {}).get("matchLabels", {}), labels) for pdb, _ in pdbs.values()),
            rel(K8S),
            f"no PodDisruptionBudget selects {name}",
        )
    svc, svc_where = by_kind.get("Service", {}).get("botq-ingest", (None, ""))
    if p.expect(svc is not None, rel(K8S), "no Service botq-ingest"):
        p.expect(
            selects(svc["spec"].get("selector", {}), pod_labels.get("botq-ingest", {})),
            svc_where,
            "selects no ingest pod",
        )
        ingest_c = deployments["botq-ingest"][0]["spec"]["template"]["spec"]["containers"][0]
        ports = [
            (sp.get("port"), port_number(ingest_c, sp.get("targetPort", sp.get("port")))) for sp in svc["spec"]["ports"]
        ]
        p.expect(ports == [(8080, 8080)], svc_where, f"must expose the webhook port 8080 only, got {ports}")

    check_scaledobject(by_kind, config, secrets, p)

    # kustomize's image overrides name the images the Deployments run.
    used = {
        c["image"].split("@")[0].rsplit(":", 1)[0]
        for d, _ in deployments.values()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    overridden = {i["name"] for i in kustomization.get("images", [])}
    p.expect(overridden == used, rel(K8S / "kustomization.yaml"), f"images {sorted(overridden)} != used {sorted(used)}")

    p.finish(
        f"{checked} resources in {len(files)} files, Kubernetes {', '.join(versions)} + KEDA {keda.KEDA_MODELS_VERSION}"
    )


if __name__ == "__main__":
    main()
