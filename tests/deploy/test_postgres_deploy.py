"""Memory on PostgreSQL in the deployment files, validated offline: the compose `postgres` profile and the kustomize
overlay deploy/k8s/postgres (memory a Deployment of several replicas with an HPA and a PDB that allows a drain, the
URL from a Secret) with its example CloudNativePG Cluster."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from tests.deploy.test_deploy_files import COMPOSE_ENV, ROOT, compose, run, tool

yaml = pytest.importorskip("yaml", reason="PyYAML comes with kubernetes-validate in the dev extras")

OVERLAY = "deploy/k8s/postgres"


def test_compose_postgres_profile_is_valid_and_memory_takes_the_url_from_the_environment() -> None:
    r = run(
        [tool("docker-compose"), "-f", "docker-compose.yml", "--profile", "postgres", "config", "-q"], env=COMPOSE_ENV
    )
    assert r.returncode == 0, r.stdout + r.stderr
    services = compose()["services"]
    pg = services["postgres"]
    assert pg["profiles"] == ["postgres"] and pg["image"].startswith("postgres:15.")
    assert "ports" not in pg, "the database is reachable on the compose network only"
    assert "pg_isready" in pg["healthcheck"]["test"]
    assert pg["volumes"][0].split(":")[0] in compose()["volumes"]
    assert services["memory"]["environment"]["SWARM_DATABASE_URL"] == "${SWARM_DATABASE_URL:-}"  # unset: SQLite


@cache
def overlay() -> list[dict[str, Any]]:
    r = run([tool("kubectl"), "kustomize", OVERLAY])
    if r.returncode != 0 and "unknown command" in r.stderr:
        pytest.skip(f"this kubectl has no kustomize: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    return [doc for doc in yaml.safe_load_all(r.stdout) if doc]


def kind(name: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in overlay() if d["kind"] == name}


def test_the_overlay_validates_strictly_against_the_kubernetes_schemas() -> None:
    text = yaml.safe_dump_all(overlay())
    r = run([tool("kubernetes-validate"), "--strict", "--quiet", "-"], stdin=text)
    assert r.returncode == 0, r.stdout + r.stderr


def test_memory_is_a_deployment_of_several_replicas_with_an_hpa_and_a_pdb_that_allows_a_drain() -> None:
    assert "memory" not in kind("StatefulSet") and not kind("PersistentVolumeClaim")
    memory = kind("Deployment")["memory"]
    assert memory["spec"]["replicas"] >= 2
    hpa = kind("HorizontalPodAutoscaler")["memory"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "memory"}
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = kind("PodDisruptionBudget")["memory"]["spec"]
    assert pdb["maxUnavailable"] >= 1 and pdb["selector"]["matchLabels"] == {"app.kubernetes.io/name": "memory"}
    (container,) = memory["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SWARM_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "swarm-db-app", "key": "uri"}
    assert "SWARM_DATA_DIR" not in env and all(m["mountPath"] != "/data" for m in container["volumeMounts"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["grpc"]["port"] == 50053
    # everything else is the base's: the stateless services and the policies are unchanged
    assert set(kind("Deployment")) == {"memory", "gateway", "assignment", "consensus", "telemetry"}
    assert "memory" in kind("NetworkPolicy") and "memory" in kind("Service")


def test_the_example_cloudnative_pg_cluster_writes_the_secret_memory_reads() -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / OVERLAY / "cloudnative-pg" / "cluster.yaml").read_text()) if d]
    (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1" and cluster["spec"]["instances"] >= 3
    # CloudNativePG names the application Secret <cluster>-app, with the connection URI under `uri`
    assert f"{cluster['metadata']['name']}-app" == "swarm-db-app"
    (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": cluster["metadata"]["name"]}
    r = run([tool("kubernetes-validate"), "--strict", "--quiet", "-"], stdin=yaml.safe_dump(policy))
    assert r.returncode == 0, r.stdout + r.stderr
