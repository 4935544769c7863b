"""Checks deploy/kubernetes: schemas first, then botq's own rules.

Schemas: every built-in resource is validated strictly (unknown fields are
errors) with kubernetes-validate against each Kubernetes version given on the
command line; KEDA resources against KEDA's CRD models (keda.py). A kind
neither knows is an error, never a skip.

botq's rules: probes on the admin port the service really listens on, the
hardened security context, a termination grace longer than the drain, a
ScaledObject that watches every queue stream of the config in the ConfigMap,
and names (Secrets, keys, labels) that line up across the files. The console
(botqctl web) gets the same container rules, plus its own: one replica,
botqctl from the worker image, a token from a
Secret, probes on a path that answers without a session, and a ClusterIP
Service only.
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
# The operator's console: `botqctl web` from the worker image, which carries botqctl.
CONSOLE = "botq-console"
CONSOLE_PORT = 9092
BOTQCTL = "/usr/local/bin/botqctl"
DOCKERFILE_WORKER = ROOT / "Dockerfile.worker"
# What answers 200 without a session (crates/botq-ctl/src/web/access.rs, guard):
# the sign-in form. Everything else redirects to it.
CONSOLE_PROBE_PATH = "/login"


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


def check_pod(dep: dict, replicas: int, p: Problems, at: str) -> dict:
    """What every Deployment needs: its replicas, a selector for its pods, one
    hardened container (check_container). Returns the pod labels."""
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    p.expect(spec.get("replicas") == replicas, at, f"replicas must be {replicas}")
    p.expect(
        all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
        at,
        "selector does not match pod labels",
    )
    p.expect(pod.get("automountServiceAccountToken") is False, at, "automountServiceAccountToken must be false")
    containers = pod.get("containers", [])
    p.expect(len(containers) == 1, at, "one container")
    for c in containers:
        check_container(c, pod, p, f"{at} container {c.get('name')}")
    return labels


def check_container(c: dict, pod: dict, p: Problems, cat: str) -> None:
    """A pinned image, Redis from a Secret, resources, the hardened security
    context and the config at /etc/botq."""
    image = c.get("image", "")
    p.expect(
        "@sha256:" in image or re.search(r":\d+\.\d+\.\d+$", image) is not None,
        cat,
        f"image {image!r} must be pinned to a version tag or a digest",
    )
    env = {e["name"]: e for e in c.get("env", [])}
    redis = env.get("BOTQ_REDIS_URL", {}).get("valueFrom", {}).get("secretKeyRef")
    p.expect(redis is not None, cat, "BOTQ_REDIS_URL must come from a Secret (it may carry a password)")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        p.expect({"cpu", "memory"} <= set(res.get(kind, {})), cat, f"resources.{kind} needs cpu and memory")
    pod_sc = pod.get("securityContext", {})
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


def check_deployment(dep: dict, config: dict, p: Problems, where: str) -> dict:
    """ingest and worker: check_pod, plus the admin listener, its probes, the
    Prometheus annotations and a grace longer than the drain."""
    name = dep["metadata"]["name"]
    at = f"{where} {kn(dep)}"
    admin_port, table, default_grace = SERVICES[name]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = check_pod(dep, REPLICAS, p, at)
    grace = config.get(table, {}).get("shutdown_grace_secs", default_grace)
    p.expect(
        pod.get("terminationGracePeriodSeconds", 30) > grace,
        at,
        f"terminationGracePeriodSeconds must be longer than {table}.shutdown_grace_secs ({grace})",
    )
    annotations = spec["template"]["metadata"].get("annotations", {})
    p.expect(annotations.get("prometheus.io/port") == str(admin_port), at, f"prometheus.io/port must be {admin_port}")
    p.expect(annotations.get("prometheus.io/scrape") == "true", at, 'prometheus.io/scrape must be "true"')
    for c in pod.get("containers", []):
        cat = f"{at} container {c.get('name')}"
        env = {e["name"]: e for e in c.get("env", [])}
        listen = env.get("BOTQ_ADMIN_LISTEN", {}).get("value", "")
        p.expect(
            listen == f"0.0.0.0:{admin_port}", cat, f"BOTQ_ADMIN_LISTEN must be 0.0.0.0:{admin_port}, got {listen!r}"
        )
        for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
            get = c.get(probe, {}).get("httpGet", {})
            p.expect(get.get("path") == path, cat, f"{probe} must GET {path}")
            p.expect(
                port_number(c, get.get("port")) == admin_port, cat, f"{probe} must probe the admin port {admin_port}"
            )
    return labels


def flag_value(args: list, flag: str) -> str | None:
    """The value of `--flag VALUE` or `--flag=VALUE` in args."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return str(args[i + 1])
        if isinstance(a, str) and a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def check_console(dep: dict, worker: dict | None, p: Problems, where: str) -> dict:
    """botqctl web: check_pod with one replica, botqctl from the worker's
    image listening on the console port, a token from a Secret, probes that
    need no session."""
    at = f"{where} {kn(dep)}"
    labels = check_pod(dep, 1, p, at)
    dockerfile = DOCKERFILE_WORKER.read_text(encoding="utf-8")
    p.expect(
        BOTQCTL in dockerfile, rel(DOCKERFILE_WORKER), f"the worker image must carry {BOTQCTL} (the console runs it)"
    )
    worker_images = {
        c.get("image", "").split("@")[0].rsplit(":", 1)[0]
        for c in (worker or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    }
    for c in dep["spec"]["template"]["spec"].get("containers", []):
        cat = f"{at} container {c.get('name')}"
        image = c.get("image", "").split("@")[0].rsplit(":", 1)[0]
        p.expect(image in worker_images, cat, f"image {image!r} must be the worker's {sorted(worker_images)} (botqctl)")
        command, args = c.get("command", []), [str(a) for a in c.get("args", [])]
        p.expect(command == [BOTQCTL], cat, f"command must be [{BOTQCTL!r}] (the image's entrypoint is the worker)")
        p.expect("web" in args, cat, "args must run `botqctl web`")
        listen = flag_value(args, "--listen") or ""
        host, _, port = listen.rpartition(":")
        p.expect(
            port == str(CONSOLE_PORT) and host not in ("", "127.0.0.1", "localhost", "[::1]"),
            cat,
            f"--listen must be an address the Service reaches on port {CONSOLE_PORT} (e.g. 0.0.0.0:{CONSOLE_PORT}), "
            f"got {listen!r}",
        )
        p.expect(
            port_number(c, "console") == CONSOLE_PORT, cat, f"needs a containerPort named console = {CONSOLE_PORT}"
        )
        env = {e["name"]: e for e in c.get("env", [])}
        token = env.get("BOTQ_CONSOLE_TOKEN", {})
        p.expect("value" not in token, cat, "BOTQ_CONSOLE_TOKEN must not be written in the manifest")
        p.expect(
            token.get("valueFrom", {}).get("secretKeyRef") is not None or flag_value(args, "--token-file") is not None,
            cat,
            "off loopback the console needs a token: BOTQ_CONSOLE_TOKEN from a Secret (or --token-file)",
        )
        for probe in ("livenessProbe", "readinessProbe"):
            pr = c.get(probe, {})
            get, tcp = pr.get("httpGet"), pr.get("tcpSocket")
            p.expect(
                (get is not None and get.get("path") == CONSOLE_PROBE_PATH) or tcp is not None,
                cat,
                f"{probe} must GET {CONSOLE_PROBE_PATH} (every other page redirects there without a session) "
                "or use tcpSocket",
            )
            p.expect(
                port_number(c, (get or tcp or {}).get("port")) == CONSOLE_PORT,
                cat,
                f"{probe} must probe the console port {CONSOLE_PORT}",
            )
    return labels


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_scaledobject(by_kind: dict, config: dict, secrets: dict, p: Problems) -> None:
    """KEDA scales the worker on the lag of every queue stream of the config."""
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
    prefix, queues = config.get("key_prefix", "botq"), config.get("queues", 1)
    want = {f"{prefix}:{{q{i}}}:stream" for i in range(queues)}
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
    p.expect(streams == want, so_where, f"triggers watch {sorted(streams)}; queues = {queues} needs {sorted(want)}")


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
    want_deployments = {*SERVICES, CONSOLE}
    p.expect(set(deployments) == want_deployments, rel(K8S), f"Deployments must be {sorted(want_deployments)}")
    pod_labels = {}
    for name, (dep, where) in deployments.items():
        if name in want_deployments:
            if name == CONSOLE:
                worker = deployments.get("botq-worker", (None, ""))[0]
                pod_labels[name] = check_console(dep, worker, p, where)
            else:
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

    # Every service Deployment has a PodDisruptionBudget (not the console: with
    # one replica a PDB could only block drains); ingest has its Service.
    pdbs = by_kind.get("PodDisruptionBudget", {})
    for name, labels in pod_labels.items():
        if name not in SERVICES:
            continue
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

    # The console's Service: inside the cluster only (kubectl port-forward, or
    # a TLS-terminating Ingress in front), on the console port.
    svc, svc_where = by_kind.get("Service", {}).get(CONSOLE, (None, ""))
    if p.expect(svc is not None, rel(K8S), f"no Service {CONSOLE}"):
        spec = svc["spec"]
        p.expect(
            spec.get("type", "ClusterIP") == "ClusterIP",
            svc_where,
            f"must be type ClusterIP (not {spec.get('type')}): the console is reached by port-forward or through TLS",
        )
        p.expect(not spec.get("externalIPs"), svc_where, "must have no externalIPs")
        p.expect(selects(spec.get("selector", {}), pod_labels.get(CONSOLE, {})), svc_where, "selects no console pod")
        if CONSOLE in deployments:
            console_c = deployments[CONSOLE][0]["spec"]["template"]["spec"]["containers"][0]
            ports = [
                (sp.get("port"), port_number(console_c, sp.get("targetPort", sp.get("port"))))
                for sp in spec.get("ports", [])
            ]
            p.expect(
                ports == [(CONSOLE_PORT, CONSOLE_PORT)],
                svc_where,
                f"must expose the console port {CONSOLE_PORT} only, got {ports}",
            )

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
