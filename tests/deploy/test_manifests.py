"""The deployment files: Kubernetes manifests, the compose file and the Grafana dashboard.

Everything is checked offline. There is no kustomize binary here, so ``render`` applies the
few kustomization fields the overlays use (and refuses any other, so a new field cannot be
ignored silently); every rendered resource is validated against the Kubernetes 1.30 schemas
that ship inside ``kubernetes-validate``, the compose file against the Compose
specification vendored in ``check-jsonschema``, and the dashboard's queries, parsed as
PromQL, against the metrics the bridge's own registry exposes.
"""

from __future__ import annotations

import base64
import copy
import importlib.resources
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml

from bridge.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30.0"
OVERLAYS = ("base", "dev")
SECRET_NAME = "bridge-secrets"
SECRET_VARIABLES = {
    "BRIDGE_CALYPSO_API_KEY",
    "BRIDGE_CALYPSO_API_SECRET",
    "BRIDGE_API_TOKENS",
    "BRIDGE_TOKENS",
    "BRIDGE_CALYPSO_WEBHOOK_SECRET",
    "BRIDGE_SECRETS_KEYS",
}
# Not read by the bridge itself: the image's HEALTHCHECK asks this port.
HEALTHCHECK_VARIABLES = {"BRIDGE_HEALTH_PORT"}
CLUSTER_SCOPED = {"Namespace"}
SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "patches",
    "images",
    "generatorOptions",
    "secretGenerator",
}

Resource = dict[str, Any]


# --- a small kustomize -------------------------------------------------------------------


def render(directory: Path) -> list[Resource]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    assert not unsupported, f"teach render() about {unsupported} in {directory}"
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += render(path)
        else:
            resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    if kustomization.get("secretGenerator"):
        assert kustomization["generatorOptions"] == {"disableNameSuffixHash": True}
    for generator in kustomization.get("secretGenerator", []):
        assert set(generator) == {"name", "literals"}, generator
        pairs = (literal.split("=", 1) for literal in generator["literals"])
        data = {k: base64.b64encode(v.encode()).decode() for k, v in pairs}
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": data}
        resources.append({**secret, "metadata": {"name": generator["name"]}})
    for patch in kustomization.get("patches", []):
        assert set(patch) == {"path"}, patch
        _merge_patch(resources, yaml.safe_load((directory / patch["path"]).read_text()))
    for image in kustomization.get("images", []):
        for container in _containers(resources):
            name, _, _ = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    if "namespace" in kustomization:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    return resources


def _merge_patch(resources: list[Resource], patch: Resource) -> None:
    """A strategic merge patch restricted to maps (lists would need merge keys)."""
    targets = [r for r in resources if _identity(r) == _identity(patch)]
    assert len(targets) == 1, f"the patch {_identity(patch)} matches {len(targets)} resources"

    def merge(into: dict[str, Any], change: dict[str, Any]) -> None:
        for key, value in change.items():
            assert not isinstance(value, list), f"render() cannot merge the list {key!r}"
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = copy.deepcopy(value)

    merge(targets[0], patch)


def _identity(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def _pod_specs(resources: list[Resource]) -> Iterator[tuple[Resource, dict[str, Any]]]:
    for resource in resources:
        if resource["kind"] in ("Deployment", "StatefulSet"):
            yield resource, resource["spec"]["template"]["spec"]


def _containers(resources: list[Resource]) -> Iterator[dict[str, Any]]:
    for _, pod in _pod_specs(resources):
        yield from pod.get("initContainers", [])
        yield from pod["containers"]


def _one(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in resources if _identity(r) == (kind, name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(resources: list[Resource], deployment: str) -> dict[str, Any]:
    pod = _one(resources, "Deployment", deployment)["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    container: dict[str, Any] = pod["containers"][0]
    return container


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[Resource]:
    return render(DEPLOY / "k8s" / request.param)


@pytest.fixture(scope="module")
def base() -> list[Resource]:
    return render(DEPLOY / "k8s" / "base")


@pytest.fixture(scope="module")
def dev() -> list[Resource]:
    return render(DEPLOY / "k8s" / "dev")


# --- Kubernetes ----------------------------------------------------------------------------


def test_every_resource_is_valid_for_kubernetes_1_30_in_strict_mode(
    rendered: list[Resource],
) -> None:
    assert rendered
    for resource in rendered:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            pytest.fail(f"{_identity(resource)} at {path}: {exc.message}")


def test_base_has_the_api_and_worker_with_their_service_autoscalers_and_budgets(
    base: list[Resource],
) -> None:
    assert sorted(_identity(r) for r in base) == [
        ("ConfigMap", "bridge-config"),
        ("Deployment", "bridge-api"),
        ("Deployment", "bridge-worker"),
        ("HorizontalPodAutoscaler", "bridge-api"),
        ("HorizontalPodAutoscaler", "bridge-worker"),
        ("PodDisruptionBudget", "bridge-api"),
        ("PodDisruptionBudget", "bridge-worker"),
        ("Service", "bridge-api"),
    ]
    assert all("namespace" not in r["metadata"] for r in base), "the overlay sets it"
    assert _one(base, "Deployment", "bridge-api")["spec"]["replicas"] == 2
    assert _one(base, "Deployment", "bridge-worker")["spec"]["replicas"] == 2


def test_every_container_has_resources_and_runs_as_non_root(rendered: list[Resource]) -> None:
    for owner, pod in _pod_specs(rendered):
        assert pod["securityContext"]["runAsNonRoot"] is True, _identity(owner)
        assert pod["securityContext"]["runAsUser"] > 0, _identity(owner)
        assert pod.get("automountServiceAccountToken") is False, _identity(owner)
        for container in pod["containers"]:
            where = f"{_identity(owner)} container {container['name']}"
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert {"cpu", "memory"} <= set(resources["limits"]), where
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "readinessProbe" in container, where
            assert "livenessProbe" in container, where


@pytest.mark.parametrize(
    ("deployment", "role", "port_name", "port"),
    [("bridge-api", "api", "http", 8080), ("bridge-worker", "worker", "metrics", 9100)],
)
def test_api_and_worker_probe_their_health_routes_and_are_scraped(
    rendered: list[Resource], deployment: str, role: str, port_name: str, port: int
) -> None:
    template = _one(rendered, "Deployment", deployment)["spec"]["template"]
    container = _container(rendered, deployment)
    assert container["args"] == [role]
    assert {"name": port_name, "containerPort": port, "protocol": "TCP"} in container["ports"]
    for probe, path in (
        ("readinessProbe", "/health/ready"),
        ("livenessProbe", "/health/live"),
        ("startupProbe", "/health/live"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": port_name}, probe
    assert template["spec"]["terminationGracePeriodSeconds"] >= 30
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_worker_serves_health_and_metrics_on_9100(rendered: list[Resource]) -> None:
    env = {e["name"]: e.get("value") for e in _container(rendered, "bridge-worker")["env"]}
    assert env["BRIDGE_METRICS_PORT"] == "9100"
    assert env["BRIDGE_HEALTH_PORT"] == "9100"


def test_secrets_are_read_only_through_secret_key_refs_to_bridge_secrets(
    rendered: list[Resource],
) -> None:
    for name in ("bridge-api", "bridge-worker"):
        container = _container(rendered, name)
        assert all("secretRef" not in source for source in container.get("envFrom", [])), name
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert set(refs) >= SECRET_VARIABLES, name
        assert {ref["name"] for ref in refs.values()} == {SECRET_NAME}, name
        for variable in SECRET_VARIABLES:
            assert not any(e["name"] == variable and "value" in e for e in container["env"])
        optional = {variable for variable, ref in refs.items() if ref.get("optional")}
        # Plain and named tokens: either will do, so each is optional on its own.
        assert optional == {
            "BRIDGE_CALYPSO_WEBHOOK_SECRET",
            "BRIDGE_REDIS_URL",
            "BRIDGE_API_TOKENS",
            "BRIDGE_TOKENS",
        }, name
    for _, pod in _pod_specs(rendered):
        assert all("secret" not in volume for volume in pod.get("volumes", []))


def test_base_ships_no_secret_and_no_secret_in_its_config(base: list[Resource]) -> None:
    assert not [r for r in base if r["kind"] == "Secret"]
    config = _one(base, "ConfigMap", "bridge-config")["data"]
    assert not SECRET_VARIABLES & set(config)


def test_autoscalers_and_disruption_budgets_target_existing_deployments(
    rendered: list[Resource],
) -> None:
    deployments = {r["metadata"]["name"]: r for r in rendered if r["kind"] == "Deployment"}
    autoscaled = set()
    for hpa in (r for r in rendered if r["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert target["name"] in deployments
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"] <= 20
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        autoscaled.add(target["name"])
    budgeted = set()
    for pdb in (r for r in rendered if r["kind"] == "PodDisruptionBudget"):
        assert pdb["spec"]["minAvailable"] == 1
        selector = pdb["spec"]["selector"]["matchLabels"]
        matching = [
            name
            for name, deployment in deployments.items()
            if _labels_match(selector, deployment["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(matching) == 1, f"PDB {pdb['metadata']['name']} selects {matching}"
        budgeted.add(matching[0])
    assert autoscaled == budgeted == {"bridge-api", "bridge-worker"}


def test_every_deployment_selector_matches_its_own_pods(rendered: list[Resource]) -> None:
    for owner, _ in _pod_specs(rendered):
        selector = owner["spec"]["selector"]["matchLabels"]
        assert _labels_match(selector, owner["spec"]["template"]["metadata"]["labels"])


def test_services_select_exactly_their_pods_on_a_named_port(rendered: list[Resource]) -> None:
    workloads = list(_pod_specs(rendered))
    for service in (r for r in rendered if r["kind"] == "Service"):
        selected = [
            (owner, pod)
            for owner, pod in workloads
            if _labels_match(
                service["spec"]["selector"], owner["spec"]["template"]["metadata"]["labels"]
            )
        ]
        assert len(selected) == 1, f"Service {service['metadata']['name']} selects {selected}"
        port_names = {p["name"] for c in selected[0][1]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, service["metadata"]["name"]
    api = _one(rendered, "Service", "bridge-api")
    assert api["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert api["spec"]["selector"]["app.kubernetes.io/component"] == "api"


def test_base_image_is_tagged_with_the_package_version(base: list[Resource]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert {c["image"] for c in _containers(base)} == {f"calypso-bridge:{version}"}


def test_dev_overlay_adds_redis_sandbox_and_a_development_secret(dev: list[Resource]) -> None:
    namespace = _one(dev, "Namespace", "calypso-bridge-dev")
    assert all(
        r["metadata"].get("namespace") == namespace["metadata"]["name"]
        for r in dev
        if r is not namespace
    )
    secret = _one(dev, "Secret", SECRET_NAME)
    keys = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for c in _containers(dev)
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
        and not e["valueFrom"]["secretKeyRef"].get("optional")
    }
    assert keys <= set(secret["data"]), "every required key is in the development Secret"
    assert {c["image"] for c in _containers(dev) if c["name"] != "redis"} == {"calypso-bridge:dev"}
    sandbox = _container(dev, "calypso-sandbox")
    assert sandbox["args"] == ["sandbox", "--host", "0.0.0.0", "--port", "8090"]


def test_dev_config_points_at_the_overlays_redis_and_sandbox(dev: list[Resource]) -> None:
    config = _one(dev, "ConfigMap", "bridge-config")["data"]
    services = {
        r["metadata"]["name"]: {p["port"] for p in r["spec"]["ports"]}
        for r in dev
        if r["kind"] == "Service"
    }
    for variable in ("BRIDGE_REDIS_URL", "BRIDGE_CALYPSO_BASE_URL"):
        match = re.fullmatch(r"\w+://([a-z0-9-]+):(\d+)(/.*)?", config[variable])
        assert match, config[variable]
        assert int(match[2]) in services.get(match[1], set()), f"{variable}: no such Service"
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", config["BRIDGE_CALYPSO_ACCOUNT"])


def test_dev_redis_keeps_its_data_and_never_evicts(dev: list[Resource]) -> None:
    redis = _one(dev, "StatefulSet", "redis")
    container = redis["spec"]["template"]["spec"]["containers"][0]
    options = dict(zip(container["args"][1::2], container["args"][2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"
    assert options["--maxmemory"], "noeviction means nothing without a maxmemory"
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]
    service = _one(dev, "Service", redis["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"


def test_configuration_names_only_variables_the_bridge_reads(
    rendered: list[Resource],
) -> None:
    names = set(_one(rendered, "ConfigMap", "bridge-config")["data"])
    names |= {e["name"] for c in _containers(rendered) for e in c.get("env", [])}
    names |= set(_compose()["x-bridge-environment"])
    for service in _compose()["services"].values():
        names |= set(service.get("environment", {}))
    unknown = {
        name
        for name in names - HEALTHCHECK_VARIABLES
        if name.startswith("BRIDGE_") and name not in _bridge_variables()
    }
    assert not unknown, f"a typo, or the bridge does not read these: {sorted(unknown)}"


def _bridge_variables() -> set[str]:
    source = "".join(path.read_text() for path in (ROOT / "bridge").rglob("*.py"))
    return set(re.findall(r"\bBRIDGE_[A-Z0-9_]+", source))


# --- compose -------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def test_compose_file_follows_the_compose_specification() -> None:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendored / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    checker = validator(schema, format_checker=validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in checker.iter_errors(_compose())]
    assert not errors
    assert "version" not in _compose()


def test_compose_redis_persists_and_never_evicts() -> None:
    redis = _compose()["services"]["redis"]
    assert redis["image"] == "redis:7-alpine"
    command = redis["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options == {
        "--appendonly": "yes",
        "--appendfsync": "everysec",
        "--maxmemory-policy": "noeviction",
    }
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    volume, _, target = redis["volumes"][0].partition(":")
    assert target == "/data"
    assert volume in _compose()["volumes"]


def test_compose_api_and_worker_wait_for_a_healthy_redis_and_build_from_the_root() -> None:
    services = _compose()["services"]
    for name, role in (("api", "api"), ("worker", "worker"), ("sandbox", "sandbox")):
        service = services[name]
        assert service["command"][0] == role
        assert service["build"]["context"] == ".."
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["redis"] == {"condition": "service_healthy"}, name
        environment = services[name]["environment"]
        assert environment["BRIDGE_REDIS_URL"].startswith("redis://redis:")
        assert environment["BRIDGE_CALYPSO_BASE_URL"] == "http://sandbox:8090"
    assert services["worker"]["environment"]["BRIDGE_HEALTH_PORT"] == "9100"
    assert services["worker"]["environment"]["BRIDGE_METRICS_PORT"] == "9100"
    assert services["sandbox"]["command"] == ["sandbox", "--host", "0.0.0.0", "--port", "8090"]


# --- Grafana -------------------------------------------------------------------------------

LABELS = {
    "le",
    "route",
    "method",
    "status",
    "endpoint",
    "outcome",
    "type",
    "group",
    "cause",
    "account",
}


def _exposed_metrics() -> set[str]:
    """The series names ``/metrics`` exposes: read off the bridge's own registry."""
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
    return {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in suffixes[family.type]
    }


def _dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "bridge-dashboard.json").read_text()
    )
    return document


def _queries() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in _dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def _metrics_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """Metric names and label names of a query, read by a real PromQL parser."""
    # Grafana replaces its interval macros before Prometheus sees the query.
    parsed = promql_parser.parse(re.sub(r"\$__(rate_interval|interval|range)", "5m", expr))
    metrics: set[str] = set()
    labels: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name is not None
            metrics.add(node.name)
            labels.update(matcher.name for matcher in node.matchers.matchers)
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier:
            labels.update(node.modifier.labels or ())
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier:
            if node.modifier.matching:
                labels.update(node.modifier.matching.labels or ())
            labels.update(node.modifier.group_labels or ())

    promql_parser.walk(parsed, visit)
    return metrics, labels


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    dashboard = _dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"]
    assert dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]


def test_dashboard_queries_use_only_the_bridges_metrics_and_labels() -> None:
    exposed = _exposed_metrics()
    for title, expr in _queries():
        metrics, labels = _metrics_and_labels(expr)
        assert metrics, f"{title}: {expr}"
        assert metrics <= exposed, f"{title}: the bridge exposes no {metrics - exposed}"
        assert labels <= LABELS, f"{title}: unknown labels {labels - LABELS}"


def test_dashboard_shows_every_metric_of_the_bridge() -> None:
    shown = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for _, expr in _queries()
        for name in _metrics_and_labels(expr)[0]
    }
    families = {family.name for family in Metrics().registry.collect()}
    assert families <= shown, f"not on the dashboard: {sorted(families - shown)}"


def test_dashboard_has_the_panels_an_operator_needs() -> None:
    queries = _queries()

    def panel_with(*needles: str) -> bool:
        return any(all(n in f"{title} {expr}" for n in needles) for title, expr in queries)

    assert panel_with("histogram_quantile(0.5", "bridge_upstream_request_seconds", "endpoint")
    assert panel_with("histogram_quantile(0.99", "bridge_upstream_request_seconds", "endpoint")
    assert panel_with("bridge_upstream_request_seconds_count", "by (outcome)")
    assert panel_with("bridge_polls_total", "by (outcome)")
    assert panel_with("histogram_quantile(0.99", "bridge_poll_schedule_lag_seconds_bucket")
    assert panel_with("bridge_events_total", "by (type)")
    assert panel_with("bridge_webhook_attempts_total", "by (outcome)")
    assert panel_with("histogram_quantile(0.5", "bridge_webhook_delivery_latency_seconds")
    assert panel_with("histogram_quantile(0.99", "bridge_webhook_delivery_latency_seconds")
    assert panel_with("bridge_stream_group_lag", "by (group)")
    assert panel_with("bridge_api_requests_total", '"5.."')
    assert panel_with("histogram_quantile(0.99", "bridge_api_request_seconds_bucket")
