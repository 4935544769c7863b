"""botq's own rules for compose.yaml, on top of the Compose Specification schema.

The schema says the file is well-formed; these say it is safe to run: only
the webhook port, the console and the local dashboards are published, and only on
127.0.0.1; botq waits for a healthy, durable Redis; secrets stay out of git.
"""

from __future__ import annotations

import re
import subprocess

from common import ROOT, Problems, env_refs, load_toml, load_yaml

COMPOSE = ROOT / "compose.yaml"
ENV_FILE = "deploy/compose.env"
# service -> container ports it may publish (always on 127.0.0.1 by default).
PUBLISHED = {"ingest": {8080}, "console": {9092}, "prometheus": {9090}, "grafana": {3000}}
DURATION = re.compile(r"^(?:(\d+)m)?(?:(\d+)s)?$")


def interpolate_defaults(text: str) -> str:
    """`${VAR:-default}` / `${VAR-default}` → default, as compose does with VAR unset."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", text)


def parse_port(spec: object) -> tuple[str | None, int]:
    """(host ip, container port) of a short or long port mapping."""
    if isinstance(spec, dict):
        return spec.get("host_ip"), int(spec["target"])
    text = interpolate_defaults(str(spec)).split("/")[0]
    parts = text.rsplit(":", 2)
    host_ip = parts[0] if len(parts) == 3 else None
    return host_ip, int(parts[-1])


def seconds(duration: str) -> int:
    m = DURATION.match(duration)
    if not m or not duration:
        raise ValueError(f"unsupported duration {duration!r}")
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def dockerfile_healthcheck(path: str) -> bool:
    """True when the final stage of the Dockerfile has a HEALTHCHECK CMD."""
    stages = re.split(r"(?im)^FROM\s", (ROOT / path).read_text(encoding="utf-8"))
    return re.search(r"(?im)^HEALTHCHECK\s.*\bCMD\b", stages[-1]) is not None


def check_dockerfile(path: str, p: Problems) -> None:
    """Base images pinned to x.y.z (or a digest); the runtime runs as UID 10001.

    hadolint flags only untagged and `latest` images; a moving tag such as
    `debian:12-slim` passes it.
    """
    text = (ROOT / path).read_text(encoding="utf-8")
    stages = re.findall(r"(?im)^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", text)
    names = {alias.lower() for _, alias in stages if alias}
    for image, _ in stages:
        if image.lower() in names:
            continue
        # Debian's exact version is its point release (12.13), not x.y.z.
        point_release = re.fullmatch(r"debian:\d+\.\d+(-slim)?", image) is not None
        p.expect(
            point_release or "@sha256:" in image or re.search(r":v?\d+\.\d+\.\d+", image) is not None,
            path,
            f"base image {image} is not pinned to an exact version (x.y.z tag, Debian point release or digest)",
        )
    final = re.split(r"(?im)^FROM\s", text)[-1]
    users = re.findall(r"(?im)^USER\s+(\S+)", final)
    p.expect(users[-1:] == ["10001:10001"], path, "the runtime stage must run as USER 10001:10001")


def dockerfile_of(svc: dict) -> str:
    build = svc.get("build")
    if isinstance(build, dict):
        return str(build.get("dockerfile", "Dockerfile"))
    return "Dockerfile" if build else ""


def git_ignored(path: str) -> bool | None:
    try:
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False, capture_output=True)
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", path], cwd=ROOT, check=False, capture_output=True
        )
    except FileNotFoundError:
        return None
    if ignored.returncode == 128:
        return None
    return ignored.returncode == 0 and tracked.returncode != 0


def main() -> None:
    p = Problems("compose rules")
    compose = load_yaml(COMPOSE)
    services: dict = compose["services"]
    where = "compose.yaml"

    for name, svc in services.items():
        image = svc.get("image")
        if image:
            p.expect(
                "@sha256:" in image or re.search(r":v?\d+\.\d+\.\d+", image) is not None,
                f"{where} services.{name}",
                f"image {image} is not pinned to an exact version (x.y.z tag or digest)",
            )
        for spec in svc.get("ports", []):
            host_ip, port = parse_port(spec)
            p.expect(
                port in PUBLISHED.get(name, set()),
                f"{where} services.{name}.ports",
                f"publishes {port}; only ingest 8080, console 9092, prometheus 9090 and grafana 3000 may be published",
            )
            p.expect(
                host_ip == "127.0.0.1",
                f"{where} services.{name}.ports",
                f"{spec!r} is not bound to 127.0.0.1 by default",
            )

    botq = {n: s for n, s in services.items() if dockerfile_of(s).startswith("Dockerfile.")}
    p.expect(
        set(botq) == {"ingest", "worker", "console"}, where, f"botq services built from Dockerfiles: {sorted(botq)}"
    )
    config_path = None
    for name, svc in botq.items():
        at = f"{where} services.{name}"
        hc = svc.get("healthcheck")
        if hc is not None:
            p.expect(not hc.get("disable", False), at, "healthcheck is disabled")
        else:
            dockerfile = dockerfile_of(svc)
            p.expect(dockerfile_healthcheck(dockerfile), at, f"no healthcheck here and no HEALTHCHECK in {dockerfile}")
        dep = svc.get("depends_on", {})
        p.expect(
            isinstance(dep, dict) and dep.get("redis", {}).get("condition") == "service_healthy",
            at,
            "must depend on redis with condition service_healthy",
        )
        env_file = svc.get("env_file")
        files = [env_file] if isinstance(env_file, str) else list(env_file or [])
        files = [f["path"] if isinstance(f, dict) else f for f in files]
        p.expect(files == [ENV_FILE], at, f"env_file must be {ENV_FILE}, got {files}")
        for volume in svc.get("volumes", []):
            src, _, rest = str(volume).partition(":")
            if rest.startswith("/etc/botq/botq.toml"):
                config_path = src
        p.expect(svc.get("restart") == "unless-stopped", at, "restart must be unless-stopped")
        check_dockerfile(dockerfile_of(svc), p)

    # Stop timeouts outlast the drain periods of the config the services mount.
    if p.expect(config_path is not None, where, "no config mounted at /etc/botq/botq.toml"):
        config = load_toml(ROOT / config_path)
        for name, key, default in (("ingest", "ingest", 10), ("worker", "worker", 20)):
            grace = config.get(key, {}).get("shutdown_grace_secs", default)
            stop = seconds(str(services[name].get("stop_grace_period", "10s")))
            p.expect(
                stop > grace,
                f"{where} services.{name}.stop_grace_period",
                f"{stop}s is not longer than {key}.shutdown_grace_secs ({grace}s) of {config_path}",
            )
        example = ROOT / "deploy/compose.env.example"
        if p.expect(example.exists(), "deploy/compose.env.example", "missing"):
            names = set(re.findall(r"(?m)^([A-Z_][A-Z0-9_]*)=", example.read_text(encoding="utf-8")))
            missing = env_refs(config) - names
            p.expect(not missing, "deploy/compose.env.example", f"lacks secrets the config reads: {sorted(missing)}")

    redis = services.get("redis", {})
    command = redis.get("command", [])
    words = command.split() if isinstance(command, str) else [str(w) for w in command]
    pairs = {words[i]: words[i + 1] for i in range(len(words) - 1) if words[i].startswith("--")}
    p.expect(pairs.get("--appendonly") == "yes", f"{where} services.redis", "must run with --appendonly yes")
    p.expect(
        pairs.get("--maxmemory-policy") == "noeviction",
        f"{where} services.redis",
        "must run with --maxmemory-policy noeviction",
    )
    p.expect("healthcheck" in redis, f"{where} services.redis", "needs a healthcheck (botq waits for service_healthy)")

    ignored = git_ignored(ENV_FILE)
    if ignored is None:  # not a git checkout: read .gitignore itself
        lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
        ignored = ENV_FILE in {line.strip().lstrip("/") for line in lines}
    p.expect(ignored, ENV_FILE, "must be git-ignored and untracked (it holds the secrets)")

    grafana = services.get("grafana", {})
    deps = grafana.get("depends_on", {})
    p.expect("prometheus" in deps, f"{where} services.grafana", "must depend on prometheus")
    mounts = {str(v).split(":")[0]: str(v).split(":")[1] for v in grafana.get("volumes", []) if str(v).startswith("./")}
    provider = load_yaml(ROOT / "deploy/grafana/provisioning/dashboards/botq.yml")
    path = provider["providers"][0]["options"]["path"]
    p.expect(
        mounts.get("./deploy/grafana/dashboards") == path,
        f"{where} services.grafana.volumes",
        f"deploy/grafana/dashboards must be mounted at the provider's path {path}",
    )
    p.expect(
        mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning",
        f"{where} services.grafana.volumes",
        "deploy/grafana/provisioning must be mounted at /etc/grafana/provisioning",
    )

    p.finish(f"{len(services)} services")


if __name__ == "__main__":
    main()
