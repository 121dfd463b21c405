"""deploy/k8s stays in step with the services: every setting name is a real field,
probes hit real routes, replicas never exceed the partitions a group can use.

No cluster needed: the manifests are parsed and checked against the settings
classes and the apps' routes, as tests/test_deploy_compose.py does for compose.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from .test_deploy_compose import SERVICE_CLIENTS, SERVICE_PORTS, setting_name, settings_class

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
SERVICES = list(SERVICE_PORTS)
REPLICATED = ["routing", "rectification", "notify"]
# One replica: the live feed's consumer group would split the events between pods.
SINGLE = ["console"]
KEEP_FILES = ["intake", "rectification", "notify"]


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    [document] = load(K8S / "kustomization.yaml")
    return document


@pytest.fixture(scope="module")
def objects(kustomization: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """kind → name → object, for everything kustomization.yaml applies."""
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for resource in kustomization["resources"]:
        for document in load(K8S / resource):
            name = document["metadata"]["name"]
            assert name not in found[document["kind"]], f"{document['kind']} {name} twice"
            found[document["kind"]][name] = document
    return found


@pytest.fixture(scope="module")
def secret() -> dict[str, Any]:
    [document] = load(K8S / "secret.example.yaml")
    return document


def pod(objects: dict[str, Any], name: str) -> dict[str, Any]:
    return objects["Deployment"][name]["spec"]["template"]["spec"]


def container(objects: dict[str, Any], name: str) -> dict[str, Any]:
    [main] = [c for c in pod(objects, name)["containers"] if c["name"] == name]
    return main


def environment(objects: dict[str, Any], spec: dict[str, Any]) -> dict[str, str]:
    """Variable → value (ConfigMap values, also one key of a ConfigMap taken by
    reference; ``secret:<key>`` for Secret references)."""
    values: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        values.update(objects["ConfigMap"][source["configMapRef"]["name"]]["data"])
    for variable in spec.get("env", []):
        if "value" in variable:
            values[variable["name"]] = str(variable["value"])
        elif "configMapKeyRef" in variable["valueFrom"]:
            ref = variable["valueFrom"]["configMapKeyRef"]
            values[variable["name"]] = objects["ConfigMap"][ref["name"]]["data"][ref["key"]]
        else:
            values[variable["name"]] = "secret:" + variable["valueFrom"]["secretKeyRef"]["key"]
    return values


def secret_references(objects: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [
        v["valueFrom"]["secretKeyRef"]
        for part in [*pod(objects, name)["initContainers"], *pod(objects, name)["containers"]]
        for v in part.get("env", [])
        if "secretKeyRef" in v.get("valueFrom", {})
    ]


def test_kustomization_applies_every_manifest_but_the_example_secret(kustomization):
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.example.yaml"}


def test_each_service_has_a_deployment_and_a_service_on_its_port(objects):
    for name in SERVICES:
        main = container(objects, name)
        assert main["command"][:3] == ["uvicorn", "--factory", f"tousu_{name}.main:create_app"]
        port = main["command"][main["command"].index("--port") + 1]
        assert port == str(SERVICE_PORTS[name])
        named = {p["name"]: p["containerPort"] for p in main["ports"]}
        assert named["http"] == SERVICE_PORTS[name]
        service = objects["Service"][name]
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert service["spec"]["ports"][0]["port"] == SERVICE_PORTS[name]
        assert service["spec"]["ports"][0]["targetPort"] in ("http", SERVICE_PORTS[name])


@pytest.mark.parametrize("name", SERVICES)
def test_probes_point_at_routes_the_app_really_has(objects, name):
    settings = settings_class(name)(
        jwt_secret="k8s-test-secret-0123456789abcdefghij", database_url="sqlite+aiosqlite://"
    )
    app = importlib.import_module(f"tousu_{name}.main").create_app(settings)
    routes = {path for path, operations in app.openapi()["paths"].items() if "get" in operations}
    main = container(objects, name)
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        get = main[probe]["httpGet"]
        assert get["path"] in routes, f"{name}: {probe} {get['path']} is no route"
        assert get["port"] in ("http", SERVICE_PORTS[name])


@pytest.mark.parametrize("name", SERVICES)
def test_every_variable_feeds_a_real_setting_of_that_service(objects, name):
    fields = settings_class(name).model_fields
    spec = pod(objects, name)
    for part in [*spec["initContainers"], *spec["containers"]]:
        unknown = {}
        for variable in environment(objects, part):
            field = setting_name(variable, name)
            if field is not None and field not in fields:
                unknown[variable] = field
        assert not unknown, f"{name}/{part['name']}: no such settings: {unknown}"


@pytest.mark.parametrize("name", SERVICES)
def test_secrets_come_from_the_secret_and_the_example_cannot_run(objects, secret, name):
    env = environment(objects, container(objects, name))
    assert env["TOUSU_JWT_SECRET"] == "secret:jwt-secret"
    assert env[f"TOUSU_{name.upper()}_DATABASE_URL"] == f"secret:{name}-database-url"
    for config_map in objects["ConfigMap"].values():
        assert not any("SECRET" in k or "PASSWORD" in k for k in config_map["data"])
    # Every key a pod needs is in the example; an optional one (a feature left off)
    # may be absent.
    required = {ref["key"] for ref in secret_references(objects, name) if not ref.get("optional")}
    assert required <= set(secret["stringData"])
    # Applied unchanged, the example's placeholder is refused: nothing runs on it.
    with pytest.raises(ValidationError):
        settings_class(name)(
            jwt_secret=secret["stringData"]["jwt-secret"],
            database_url=secret["stringData"][f"{name}-database-url"],
        )


@pytest.mark.parametrize("name", SERVICES)
def test_every_pod_migrates_its_own_database_before_it_starts(objects, name):
    [migrate] = pod(objects, name)["initContainers"]
    assert migrate["command"] == ["tousu", "migrate", name]
    assert migrate["image"] == container(objects, name)["image"]
    assert environment(objects, migrate) == environment(objects, container(objects, name))


def test_replicas_and_autoscalers_stop_at_the_partition_count(objects):
    partitions = int(objects["ConfigMap"]["tousu-shared"]["data"]["TOUSU_KAFKA_TOPIC_PARTITIONS"])
    for name in REPLICATED:
        assert 2 <= objects["Deployment"][name]["spec"]["replicas"] <= partitions
    for name in SINGLE:
        assert objects["Deployment"][name]["spec"]["replicas"] == 1
        assert name not in objects["HorizontalPodAutoscaler"], f"{name} must not scale out"
    for name, hpa in objects["HorizontalPodAutoscaler"].items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in objects["Deployment"]
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions, name
    assert set(REPLICATED) <= set(objects["HorizontalPodAutoscaler"])


@pytest.mark.parametrize("name", KEEP_FILES)
def test_replicas_share_their_files_on_a_read_write_many_volume(objects, name):
    env = environment(objects, container(objects, name))
    mounts = {m["name"]: m["mountPath"] for m in container(objects, name)["volumeMounts"]}
    assert mounts.get("data") == env["TOUSU_DATA_DIR"] == "/data"
    [volume] = [v for v in pod(objects, name)["volumes"] if v["name"] == "data"]
    claim = objects["PersistentVolumeClaim"][volume["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("name", SERVICES)
def test_pods_run_as_the_images_unprivileged_user_on_a_read_only_root(objects, name):
    spec = pod(objects, name)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001  # deploy/Dockerfile's USER
    for part in [*spec["initContainers"], *spec["containers"]]:
        assert part["securityContext"]["readOnlyRootFilesystem"] is True
        assert part["securityContext"]["allowPrivilegeEscalation"] is False


# -- the console ---------------------------------------------------------------------


def test_notify_links_to_the_console_at_the_consoles_own_address(objects):
    console = environment(objects, container(objects, "console"))
    for part in [*pod(objects, "notify")["initContainers"], *pod(objects, "notify")["containers"]]:
        notify = environment(objects, part)
        assert notify["TOUSU_NOTIFY_CONSOLE_URL"] == console["TOUSU_CONSOLE_PUBLIC_URL"]
    # The settings read it as the console URL, without a trailing slash to double up.
    settings = settings_class("notify")(
        jwt_secret="k8s-test-secret-0123456789abcdefghij",
        database_url="sqlite+aiosqlite://",
        console_url=console["TOUSU_CONSOLE_PUBLIC_URL"],
    )
    assert str(settings.console_url).rstrip("/") == console["TOUSU_CONSOLE_PUBLIC_URL"]


def test_console_settings_are_valid_for_prod_and_sign_in_over_https(objects, monkeypatch):
    import os

    env = environment(objects, container(objects, "console"))
    for variable in list(os.environ):
        if variable.upper().startswith("TOUSU_"):
            monkeypatch.delenv(variable)
    for variable, value in env.items():
        if not value.startswith("secret:"):
            monkeypatch.setenv(variable, value)
    monkeypatch.setenv("TOUSU_JWT_SECRET", "k8s-test-secret-0123456789abcdefghij")
    monkeypatch.setenv("TOUSU_CONSOLE_DATABASE_URL", "postgresql+asyncpg://u:p@pg/tousu_console")
    settings = settings_class("console")()
    assert settings.environment == "prod" and settings.secure_cookies is True
    assert settings.public_url.startswith("https://")
    # The other example hosts are subdomains of the same one.
    intake = objects["ConfigMap"]["tousu-intake"]["data"]["TOUSU_INTAKE_PUBLIC_URL"]
    assert settings.public_url.endswith("." + intake.removeprefix("https://"))
    # A provider like Keycloak refuses a scope the client lacks; "tousu" is the dev one.
    assert "tousu" not in settings.signin_scope.split()
    assert "openid" in settings.signin_scope.split()
    # The console keeps no files: no data volume, its cookie and tokens live in its database.
    assert "data" not in {m["name"] for m in container(objects, "console")["volumeMounts"]}


def test_console_is_the_only_service_without_a_client_credentials_secret(objects):
    for name in SERVICES:
        keys = {ref["key"] for ref in secret_references(objects, name)}
        has_client = any(key.endswith("-oidc-client-secret") for key in keys)
        if name == "notify":
            assert has_client
        if name not in SERVICE_CLIENTS:
            assert not has_client, f"{name} signs people in; it has no service client"
