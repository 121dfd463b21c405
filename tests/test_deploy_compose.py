"""docker-compose.yml, deploy/Dockerfile and deploy/postgres/init.sql stay in step
with the services.

No Docker engine is needed: the files are parsed and checked against the
services' settings classes, their documented ports and their start-up contract
(``tousu migrate <name>`` before ``uvicorn --factory tousu_<name>.main:create_app``).
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"

SERVICE_PORTS = {
    "intake": 8001,
    "routing": 8002,
    "rectification": 8003,
    "notify": 8004,
    "console": 8005,
}
SERVICES = list(SERVICE_PORTS)
# The four with a client-credentials client at the provider (the console signs
# people in through the public client tousu-workbench and calls with their tokens).
SERVICE_CLIENTS = ["intake", "routing", "rectification", "notify"]
INFRASTRUCTURE = ["kafka", "postgres", "keycloak"]
SHARED_PREFIX = "TOUSU_"

# What an operator would export; the test never reads the real environment.
FAKE_HOST_ENV = {
    "POSTGRES_PASSWORD": "pg-password-from-the-environment",
    "TOUSU_JWT_SECRET": "jwt-secret-from-the-environment-0123456789",
    "SMTP_HOST": "relay.example.internal",
    "KEYCLOAK_ADMIN_PASSWORD": "keycloak-admin-password-from-the-environment",
    "TOUSU_DEMO_PASSWORD": "demo-password-from-the-environment",
    **{
        f"TOUSU_{name.upper()}_CLIENT_SECRET": f"{name}-client-secret-0123456789"
        for name in ("intake", "routing", "rectification", "notify")
    },
}
# Ports a service publishes besides its HTTP port: intake's complaints mailbox.
EXTRA_PORTS = {"intake": [("127.0.0.1", 2525, 2525)]}
# Run as several replicas (deploy/README.md, "Scaling out"); intake stays one
# container because its mailbox port 2525 is a fixed MX target, the console because
# its live feed's consumer group would split the events between replicas.
REPLICATED = ["routing", "rectification", "notify"]

_SUBSTITUTION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)
_REQUIRED_SUBSTITUTION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}")


class MissingVariableError(LookupError):
    pass


def interpolate(value: str, host_env: dict[str, str]) -> str:
    """Compose's variable interpolation: ${X}, ${X:-d}, ${X-d}, ${X:?e}, ${X?e}, $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = host_env.get(name)
        unset_or_empty = not current
        if op == ":-":
            return arg if unset_or_empty else current
        if op == "-":
            return arg if current is None else current
        if op == ":?" and unset_or_empty:
            raise MissingVariableError(f"{name}: {arg}")
        if op == "?" and current is None:
            raise MissingVariableError(f"{name}: {arg}")
        return current or ""

    return _SUBSTITUTION.sub(replace, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    services = compose.get("services") or {}
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def environment(compose: dict[str, Any], name: str) -> dict[str, str]:
    """The service's environment as written (mapping or KEY=VALUE list form)."""
    raw = service(compose, name).get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in raw)
        raw = dict(pairs)
    result = {}
    for key, value in raw.items():
        assert value is not None, f"{name}: {key} is passed through from the host, set it"
        result[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    return result


def resolved_environment(compose: dict[str, Any], name: str) -> dict[str, str]:
    return {k: interpolate(v, FAKE_HOST_ENV) for k, v in environment(compose, name).items()}


def service_prefix(name: str) -> str:
    return f"TOUSU_{name.upper()}_"


def setting_name(variable: str, name: str) -> str | None:
    """The settings field a TOUSU_ variable feeds, or None for other variables.

    ``TOUSU_INTAKE_URL`` read by intake is the shared ``intake_url`` (there is no
    intake field ``url``), as pydantic-settings resolves it: a prefix counts only
    when what follows it is a field."""
    upper = variable.upper()
    fields = settings_class(name).model_fields
    candidates = [
        upper[len(prefix) :].lower()
        for prefix in (service_prefix(name), SHARED_PREFIX)
        if upper.startswith(prefix)
    ]
    for candidate in candidates:
        if candidate in fields:
            return candidate
    return candidates[0] if candidates else None


def effective_settings(compose: dict[str, Any], name: str) -> dict[str, str]:
    """Field -> value as the service sees it: the service prefix wins over the shared one."""
    env = resolved_environment(compose, name)
    fields = settings_class(name).model_fields
    shared, own = {}, {}
    for variable, value in env.items():
        upper = variable.upper()
        if upper.startswith(service_prefix(name)):
            field = upper[len(service_prefix(name)) :].lower()
            if field in fields:
                own[field] = value
                continue
        if upper.startswith(SHARED_PREFIX):
            shared[upper[len(SHARED_PREFIX) :].lower()] = value
    return {**shared, **own}


def settings_class(name: str) -> type:
    module = importlib.import_module(f"tousu_{name}.config")
    return module.Settings


def command_steps(compose: dict[str, Any], name: str) -> list[list[str]]:
    """The `sh -c` script of the service's command, split on `&&` into argv lists."""
    command = service(compose, name).get("command")
    assert command, f"{name}: no command"
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    assert len(argv) == 3 and argv[0] in ("sh", "/bin/sh") and argv[1] == "-c", (
        f"{name}: command must be sh -c '<migrate> && exec uvicorn ...', got {argv!r}"
    )
    return [shlex.split(step) for step in argv[2].split("&&")]


def uvicorn_argv(compose: dict[str, Any], name: str) -> list[str]:
    last = command_steps(compose, name)[-1]
    if last and last[0] == "exec":
        last = last[1:]
    assert last and last[0] == "uvicorn", f"{name}: the command does not end by starting uvicorn"
    return last


def option(argv: list[str], flag: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == flag and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
    return None


def published_ports(compose: dict[str, Any], name: str) -> list[tuple[str, int, int]]:
    """(host_ip, published, target) for each port mapping of a service."""
    result = []
    for entry in service(compose, name).get("ports") or []:
        if isinstance(entry, dict):
            host_ip = str(entry.get("host_ip", ""))
            published, target = int(entry.get("published", 0)), int(entry["target"])
        else:
            parts = str(entry).split("/", 1)[0].split(":")
            if len(parts) == 3:  # "127.0.0.1::8002": any free host port (replicas)
                host_ip, published, target = parts[0], int(parts[1] or 0), int(parts[2])
            elif len(parts) == 2:
                host_ip, published, target = "", int(parts[0]), int(parts[1])
            else:
                host_ip, published, target = "", 0, int(parts[0])
        result.append((host_ip, published, target))
    return result


def kafka_internal_listener(compose: dict[str, Any]) -> tuple[str, str, int]:
    """(listener name, host, port) of the advertised listener other containers use."""
    env = environment(compose, "kafka")
    hostname = service(compose, "kafka").get("hostname", "kafka")
    internal = []
    for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(","):
        listener_name, _, address = listener.strip().partition("://")
        host, _, port = address.rpartition(":")
        if host in ("kafka", hostname):
            internal.append((listener_name, host, int(port)))
    assert len(internal) == 1, f"expected one advertised listener on host kafka, got {internal}"
    return internal[0]


# -- 1. the stack --------------------------------------------------------------------


def test_compose_defines_the_broker_the_database_and_the_four_services(compose):
    services = compose.get("services") or {}
    assert set(INFRASTRUCTURE + SERVICES) <= set(services)
    assert str(service(compose, "kafka")["image"]).startswith("apache/kafka:")
    assert not str(service(compose, "kafka")["image"]).endswith(":latest")
    assert str(service(compose, "postgres")["image"]) == "postgres:16"


def test_every_service_is_built_from_the_shared_image(compose):
    for name in SERVICES:
        build = service(compose, name).get("build")
        assert isinstance(build, dict), f"{name}: build must be {{context, dockerfile}}"
        assert build.get("context") in (".", "./"), f"{name}: build context must be the repo root"
        assert build.get("dockerfile") == "deploy/Dockerfile"
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_services_wait_for_a_healthy_broker_and_database(compose):
    for infra in INFRASTRUCTURE:
        assert service(compose, infra).get("healthcheck", {}).get("test"), (
            f"{infra}: no healthcheck"
        )
    assert "pg_isready" in str(service(compose, "postgres")["healthcheck"]["test"])
    for name in SERVICES:
        depends_on = service(compose, name).get("depends_on")
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for infra in INFRASTRUCTURE:
            assert depends_on.get(infra, {}).get("condition") == "service_healthy", (
                f"{name} must wait for {infra} to be healthy"
            )


# -- 2. environment -> settings ------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_env_var_is_a_real_setting(compose, name):
    fields = settings_class(name).model_fields
    unknown = {}
    for variable in environment(compose, name):
        field = setting_name(variable, name)
        if field is not None and field not in fields:
            unknown[variable] = field
    assert not unknown, (
        f"{name}: variables that feed no tousu_{name}.config.Settings field: {unknown}"
    )


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_is_given_database_broker_and_jwt_secret(compose, name):
    values = effective_settings(compose, name)
    for field in ("database_url", "kafka_bootstrap_servers", "jwt_secret"):
        assert values.get(field), f"{name}: {field} is not set (TOUSU_{name.upper()}_ or TOUSU_)"
    assert values.get("environment") == "prod", f"{name}: TOUSU_ENVIRONMENT must be prod"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_uses_its_own_postgres_database(compose, name):
    url = urlsplit(effective_settings(compose, name)["database_url"])
    postgres_env = resolved_environment(compose, "postgres")
    assert url.scheme == "postgresql+asyncpg"
    assert url.hostname == "postgres"
    assert (url.port or 5432) == 5432
    assert url.path.lstrip("/") == f"tousu_{name}"
    assert url.username == postgres_env["POSTGRES_USER"]
    # The password is the operator's POSTGRES_PASSWORD, not a literal.
    assert url.password == FAKE_HOST_ENV["POSTGRES_PASSWORD"]
    assert postgres_env["POSTGRES_PASSWORD"] == FAKE_HOST_ENV["POSTGRES_PASSWORD"]


@pytest.mark.parametrize("name", SERVICES)
def test_kafka_bootstrap_points_at_the_brokers_internal_listener(compose, name):
    listener_name, _, port = kafka_internal_listener(compose)
    kafka_env = environment(compose, "kafka")
    protocols = dict(
        item.strip().split(":", 1)
        for item in kafka_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert protocols.get(listener_name) == "PLAINTEXT", "the services speak PLAINTEXT"
    bound = [item.strip() for item in kafka_env["KAFKA_LISTENERS"].split(",")]
    assert any(
        item.startswith(f"{listener_name}://") and item.endswith(f":{port}") for item in bound
    ), f"kafka listens on no {listener_name} port {port}: {bound}"

    servers = effective_settings(compose, name)["kafka_bootstrap_servers"].split(",")
    assert servers and all(server.strip() == f"kafka:{port}" for server in servers), servers


def test_kafka_is_a_single_kraft_node(compose):
    env = environment(compose, "kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node_id}@")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    for name in SERVICES:
        replication = effective_settings(compose, name).get("kafka_replication_factor", "1")
        assert int(replication) == 1, f"{name}: one broker cannot hold {replication} replicas"


@pytest.mark.parametrize("name", SERVICES)
def test_compose_environment_gives_valid_prod_settings(compose, name, monkeypatch):
    for variable in list(os.environ):
        if variable.upper().startswith(SHARED_PREFIX):
            monkeypatch.delenv(variable)
    for variable, value in resolved_environment(compose, name).items():
        monkeypatch.setenv(variable, value)

    settings = settings_class(name)()

    assert settings.environment == "prod"
    assert settings.database_url.endswith(f"/tousu_{name}")
    assert settings.jwt_secret.get_secret_value() == FAKE_HOST_ENV["TOUSU_JWT_SECRET"]


# -- 3. ports ------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_service_port_is_the_documented_one_and_matches_uvicorn(compose, name):
    argv = uvicorn_argv(compose, name)
    assert option(argv, "--host") == "0.0.0.0"
    assert option(argv, "--port") == str(SERVICE_PORTS[name])
    # A replicated service cannot pin a host port: two replicas would both bind it.
    host_port = 0 if name in REPLICATED else SERVICE_PORTS[name]
    assert published_ports(compose, name) == [
        ("127.0.0.1", host_port, SERVICE_PORTS[name]),
        *EXTRA_PORTS.get(name, []),
    ]


@pytest.mark.parametrize("name", REPLICATED)
def test_replicated_services_run_two_replicas_and_no_more_than_partitions(compose, name):
    replicas = service(compose, name).get("deploy", {}).get("replicas")
    assert replicas is not None, f"{name}: no deploy.replicas"
    count = int(interpolate(str(replicas), FAKE_HOST_ENV))
    partitions = int(effective_settings(compose, name)["kafka_topic_partitions"])
    assert 2 <= count <= partitions, f"{name}: {count} replicas for {partitions} partitions"
    # The operator's override reaches compose, not the containers.
    assert int(interpolate(str(replicas), {f"{name.upper()}_REPLICAS": "3"})) == 3


def test_intake_stays_a_single_container_with_its_fixed_mailbox_port(compose):
    assert int(service(compose, "intake").get("deploy", {}).get("replicas", 1)) == 1


def test_the_console_stays_a_single_container(compose):
    assert int(service(compose, "console").get("deploy", {}).get("replicas", 1)) == 1


def test_no_port_is_published_beyond_localhost(compose):
    for name in compose["services"]:
        for host_ip, published, target in published_ports(compose, name):
            assert host_ip == "127.0.0.1", f"{name}: {published}:{target} is open to the network"


# The console is healthy when it can reach its sessions database and the broker.
HEALTH_PATHS = {"console": "/readyz"}


@pytest.mark.parametrize("name", SERVICES)
def test_service_healthcheck_probes_its_own_healthz_with_python(compose, name):
    test = service(compose, name).get("healthcheck", {}).get("test")
    assert isinstance(test, list) and test[:2] == ["CMD", "python"], f"{name}: {test!r}"
    path = HEALTH_PATHS.get(name, "/healthz")
    assert f"127.0.0.1:{SERVICE_PORTS[name]}{path}" in " ".join(test)


# -- 4. secrets ----------------------------------------------------------------------


def test_secrets_are_required_substitutions_never_literals(compose):
    checked = 0
    for name in compose["services"]:
        for variable, value in environment(compose, name).items():
            if "SECRET" in variable.upper() or "PASSWORD" in variable.upper():
                checked += 1
                assert _REQUIRED_SUBSTITUTION.fullmatch(value.strip()), (
                    f"{name}: {variable} must be ${{VAR:?message}}, not {value!r}"
                )
                with pytest.raises(MissingVariableError):
                    interpolate(value, {})
            # Secrets embedded in other values (database URLs) must be required too.
            for match in _SUBSTITUTION.finditer(value):
                referenced = match.group("name") or ""
                if "SECRET" in referenced.upper() or "PASSWORD" in referenced.upper():
                    assert match.group("op") == ":?", (
                        f"{name}: {variable} gives {referenced} a default"
                    )
    assert checked >= 2, "expected at least TOUSU_JWT_SECRET and POSTGRES_PASSWORD"


# -- 5. databases --------------------------------------------------------------------


def test_init_sql_creates_exactly_the_databases_the_services_use(compose):
    sql = re.sub(r"--[^\n]*", "", INIT_SQL.read_text(encoding="utf-8"))
    created = re.findall(r"\bCREATE\s+DATABASE\s+\"?([A-Za-z0-9_]+)\"?", sql, re.IGNORECASE)
    assert len(created) == len(set(created)), f"a database is created twice: {created}"
    used = {
        urlsplit(effective_settings(compose, name)["database_url"]).path.lstrip("/")
        for name in SERVICES
    }
    assert set(created) == used == {f"tousu_{name}" for name in SERVICES}


def test_init_sql_is_mounted_into_the_postgres_entrypoint(compose):
    volumes = [str(v) for v in service(compose, "postgres").get("volumes") or []]
    assert any(
        v.split(":")[0] in ("./deploy/postgres/init.sql", "deploy/postgres/init.sql")
        and v.split(":")[1].startswith("/docker-entrypoint-initdb.d/")
        for v in volumes
    ), volumes


# -- 6. image and start-up -----------------------------------------------------------


def _final_stage(dockerfile: str) -> list[str]:
    lines = dockerfile.replace("\\\n", " ").splitlines()
    instructions = [
        line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
    ]
    starts = [i for i, line in enumerate(instructions) if line.upper().startswith("FROM ")]
    assert starts, "the Dockerfile has no FROM"
    return instructions[starts[-1] :]


def test_image_does_not_run_as_root():
    assert DOCKERFILE.is_file()
    users = [
        line.split(None, 1)[1].strip()
        for line in _final_stage(DOCKERFILE.read_text(encoding="utf-8"))
        if line.upper().startswith("USER ")
    ]
    assert users, "the final stage has no USER: it would run as root"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0"), f"the image runs as {users[-1]}"


def test_image_installs_the_project_on_python_311_slim():
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert "python:3.11-slim" in dockerfile
    # the project itself, with the OTLP exporter (tracing_exporter=otlp) and not the
    # dev or local-broker extras; its dependencies exactly as locked
    assert re.search(
        r"pip install\s+--no-cache-dir\s+--no-deps\s+--no-build-isolation\s+'\.\[otlp\]'(\s|$)",
        dockerfile,
    )
    assert re.search(
        r"pip install\s+--no-cache-dir\s+--require-hashes\s+--no-deps\s+"
        r"-r\s+deploy/requirements\.lock",
        dockerfile,
    )


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_migrates_before_starting_its_app(compose, name):
    steps = command_steps(compose, name)
    assert len(steps) == 2, f"{name}: expected '<migrate> && exec uvicorn ...', got {steps}"
    assert steps[0] == ["tousu", "migrate", name]
    assert steps[1][0] == "exec", f"{name}: uvicorn should replace the shell (exec) to get signals"
    argv = uvicorn_argv(compose, name)
    assert "--factory" in argv
    assert f"tousu_{name}.main:create_app" in argv
    assert "--no-access-log" in argv


@pytest.mark.parametrize("name", ["intake", "rectification", "notify"])
def test_services_that_keep_files_keep_them_on_a_volume(compose, name):
    """The containers are read-only: attachments, raw mail, evidence and documents
    must land on a named volume at the configured data_dir."""
    data_dir = effective_settings(compose, name).get("data_dir")
    assert data_dir == "/data", f"{name}: data_dir is {data_dir!r}"
    volumes = service(compose, name).get("volumes") or []
    mounts = {str(v).split(":")[1] for v in volumes if ":" in str(v)}
    assert "/data" in mounts, f"{name}: nothing mounted at /data"
    named = {str(v).split(":")[0] for v in volumes}
    assert named <= set(compose.get("volumes") or {}), f"{name}: undeclared volume"


def test_image_has_ocr_and_chromium_for_fax_and_documents():
    text = DOCKERFILE.read_text()
    for package in ("tesseract-ocr-chi-sim", "tesseract-ocr-eng", "chromium", "fonts-wqy-zenhei"):
        assert package in text, f"the image does not install {package}"
    assert "TOUSU_CHROMIUM=/usr/bin/chromium" in text


# -- 7. sign-in: Keycloak and the tousu realm ----------------------------------------

REALM_FILE = ROOT / "deploy" / "keycloak" / "tousu-realm.json"
_PLACEHOLDER = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    import json

    return json.loads(REALM_FILE.read_text(encoding="utf-8"))


def realm_client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    found = [c for c in realm.get("clients", []) if c.get("clientId") == client_id]
    assert len(found) == 1, f"the realm has no (or several) client {client_id!r}"
    return found[0]


def mapper(client: dict[str, Any], kind: str) -> dict[str, str]:
    found = [m["config"] for m in client.get("protocolMappers", []) if m["protocolMapper"] == kind]
    assert len(found) == 1, f"{client['clientId']}: expected one {kind} mapper"
    return found[0]


def test_keycloak_imports_the_realm_file_on_start(compose):
    keycloak = service(compose, "keycloak")
    image = str(keycloak["image"])
    assert image.startswith("quay.io/keycloak/keycloak:") and not image.endswith(":latest")
    assert "--import-realm" in keycloak["command"]
    mounts = [str(v).split(":") for v in keycloak.get("volumes") or []]
    assert any(
        source.lstrip("./") == "deploy/keycloak/tousu-realm.json"
        and target.startswith("/opt/keycloak/data/import/")
        for source, target, *_ in mounts
    ), mounts
    assert REALM_FILE.is_file()


def test_realm_roles_are_exactly_tousu_roles(realm):
    from tousu_common.auth import ROLES

    assert {role["name"] for role in realm["roles"]["realm"]} == set(ROLES)


@pytest.mark.parametrize("name", SERVICES)
def test_services_trust_only_the_realm_and_fetch_keys_inside_the_network(compose, realm, name):
    values = effective_settings(compose, name)
    keycloak_env = resolved_environment(compose, "keycloak")
    assert values["oidc_issuer"] == f"{keycloak_env['KC_HOSTNAME']}/realms/{realm['realm']}"
    for field in ("oidc_jwks_url", "oidc_token_url"):
        url = urlsplit(values[field])
        assert (url.hostname, url.port) == ("keycloak", 8080), f"{name}: {field}"
        assert url.path.startswith(f"/realms/{realm['realm']}/protocol/openid-connect/")
    assert values.get("oidc_audience", "tousu") == "tousu"


@pytest.mark.parametrize("name", SERVICE_CLIENTS)
def test_each_service_has_a_client_credentials_client_with_the_service_role(compose, realm, name):
    settings = settings_class(name)(
        **{
            field: value
            for field, value in effective_settings(compose, name).items()
            if field in settings_class(name).model_fields
        }
    )
    client_id = settings.oidc_client_id or f"tousu-{name}"
    client = realm_client(realm, client_id)
    assert client["serviceAccountsEnabled"] is True and client["publicClient"] is False
    assert client["standardFlowEnabled"] is False and client["directAccessGrantsEnabled"] is False
    # Its secret is a placeholder Keycloak fills from its environment; the service is
    # given the same operator variable.
    placeholder = _PLACEHOLDER.match(client["secret"])
    assert placeholder, f"{client_id}: the secret must be a ${{VAR}} placeholder"
    keycloak_env = resolved_environment(compose, "keycloak")
    assert keycloak_env[placeholder.group(1)] == settings.oidc_client_secret.get_secret_value()
    [account] = [u for u in realm["users"] if u.get("serviceAccountClientId") == client_id]
    assert account["realmRoles"] == ["service"]
    # The service's token carries the audience, the roles where Tousu reads them.
    assert mapper(client, "oidc-audience-mapper")["included.custom.audience"] == "tousu"
    roles = mapper(client, "oidc-usermodel-realm-role-mapper")
    assert roles["claim.name"] in settings.oidc_role_claims
    assert roles["access.token.claim"] == "true"


def test_only_notify_reads_contacts_at_intake(realm):
    from tousu_intake.config import Settings as IntakeSettings

    readers = IntakeSettings.model_fields["contact_clients"].default_factory()
    assert readers == ["tousu-notify"]
    realm_client(realm, "tousu-notify")


@pytest.mark.parametrize("client_id", ["tousu-workbench", "tousu-cli"])
def test_people_sign_in_through_public_clients_with_pkce(realm, client_id):
    from tousu_common.settings import ServiceSettings

    client = realm_client(realm, client_id)
    assert client["publicClient"] is True and client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False and client["directAccessGrantsEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert "basic" in client["defaultClientScopes"]  # Keycloak ≥ 25: `sub` lives there
    department = mapper(client, "oidc-usermodel-attribute-mapper")
    assert department["user.attribute"] == "department"
    assert department["claim.name"] == ServiceSettings.model_fields["oidc_department_claim"].default
    assert department["access.token.claim"] == "true"
    for uri in client["redirectUris"]:
        assert urlsplit(uri.replace("${TOUSU_WORKBENCH_URL}", "http://h")).scheme == "http"
        assert "*" not in uri, f"{client_id}: wildcard redirect {uri}"


def test_demo_users_cover_every_role_and_department_with_a_temporary_password(realm):
    from tousu_routing.domain.rules import DEPARTMENTS

    people = [u for u in realm["users"] if "serviceAccountClientId" not in u]
    roles = {role for user in people for role in user["realmRoles"]}
    assert roles == {"agent", "csc", "department", "quality", "supply", "manager", "admin"}
    departments = {d for u in people for d in u.get("attributes", {}).get("department", [])}
    assert departments == set(DEPARTMENTS)
    for user in people:
        for department in user.get("attributes", {}).get("department", []):
            assert department in DEPARTMENTS
        [credential] = user["credentials"]
        assert credential["temporary"] is True
        assert _PLACEHOLDER.match(credential["value"]), f"{user['username']}: literal password"
    # The user profile declares the department attribute with exactly those values.
    import json

    [profile] = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    config = json.loads(profile["config"]["kc.user.profile.config"][0])
    [declared] = [a for a in config["attributes"] if a["name"] == "department"]
    assert declared["validations"]["options"]["options"] == list(DEPARTMENTS)


def test_every_placeholder_in_the_realm_is_given_to_keycloak(compose):
    placeholders = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", REALM_FILE.read_text()))
    keycloak_env = resolved_environment(compose, "keycloak")
    assert placeholders <= set(keycloak_env), placeholders - set(keycloak_env)


# -- 8. the console: one address for staff, sign-in through tousu-workbench ------------

WORKBENCH_DEFAULT = f"http://127.0.0.1:{SERVICE_PORTS['console']}"
# Client scopes Keycloak creates in a realm whose file defines none (the realm file
# relies on them): a scope outside these and the client's lists is refused.
_OIDC_SCOPE = "openid"


def console_settings(compose: dict[str, Any], host_env: dict[str, str], monkeypatch) -> Any:
    for variable in list(os.environ):
        if variable.upper().startswith(SHARED_PREFIX):
            monkeypatch.delenv(variable)
    for variable, value in environment(compose, "console").items():
        monkeypatch.setenv(variable, interpolate(value, host_env))
    return settings_class("console")()


@pytest.mark.parametrize("workbench_url", [None, "https://console.tousu.example.com"])
def test_console_notify_links_and_keycloak_agree_on_the_consoles_address(
    compose, monkeypatch, workbench_url
):
    host_env = dict(FAKE_HOST_ENV)
    if workbench_url:
        host_env["TOUSU_WORKBENCH_URL"] = workbench_url
    expected = workbench_url or WORKBENCH_DEFAULT
    console = console_settings(compose, host_env, monkeypatch)
    assert console.public_url == expected
    notify = {k: interpolate(v, host_env) for k, v in environment(compose, "notify").items()}
    assert notify["TOUSU_NOTIFY_CONSOLE_URL"] == expected
    keycloak = {k: interpolate(v, host_env) for k, v in environment(compose, "keycloak").items()}
    assert keycloak["TOUSU_WORKBENCH_URL"] == expected
    # The default is where the console really listens on the host.
    assert published_ports(compose, "console") == [("127.0.0.1", 8005, 8005)]


def test_console_cookie_is_secure_in_compose(compose, monkeypatch):
    console = console_settings(compose, FAKE_HOST_ENV, monkeypatch)
    assert console.environment == "prod"
    assert console.secure_cookies is True
    # An operator trying it over plain HTTP on another host can turn it off.
    relaxed = console_settings(
        compose, {**FAKE_HOST_ENV, "TOUSU_CONSOLE_COOKIE_SECURE": "false"}, monkeypatch
    )
    assert relaxed.secure_cookies is False


def test_console_reads_the_providers_metadata_inside_the_network(compose, realm, monkeypatch):
    """The issuer is the browsers' address (127.0.0.1:8080 on the host), which is the
    container itself from inside: metadata, code exchange and keys go to keycloak:8080."""
    console = console_settings(compose, FAKE_HOST_ENV, monkeypatch)
    keycloak_env = resolved_environment(compose, "keycloak")
    assert console.oidc_issuer == f"{keycloak_env['KC_HOSTNAME']}/realms/{realm['realm']}"
    for url in (console.oidc_discovery_url, console.oidc_token_url, console.oidc_jwks_url):
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) == ("keycloak", 8080), url
        assert parts.path.startswith(f"/realms/{realm['realm']}")
    assert keycloak_env["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"


def _matches(pattern: str, uri: str) -> bool:
    """Keycloak's redirect-URI match: exact, or a trailing ``*`` wildcard."""
    if pattern.endswith("*"):
        return uri.startswith(pattern[:-1])
    return uri == pattern


@pytest.mark.parametrize("workbench_url", [WORKBENCH_DEFAULT, "https://console.tousu.example.com"])
def test_the_workbench_client_takes_the_consoles_sign_in_and_sign_out(
    compose, realm, monkeypatch, workbench_url
):
    console = console_settings(
        compose, {**FAKE_HOST_ENV, "TOUSU_WORKBENCH_URL": workbench_url}, monkeypatch
    )
    client = realm_client(realm, console.signin_client_id)
    assert client["publicClient"] is True and console.signin_client_secret is None

    def fill(value: str) -> str:
        return value.replace("${TOUSU_WORKBENCH_URL}", workbench_url)

    redirects = [fill(uri) for uri in client["redirectUris"]]
    assert f"{console.public_url}/auth/callback" in redirects
    post_logout = [fill(u) for u in client["attributes"]["post.logout.redirect.uris"].split("##")]
    assert any(_matches(p, f"{console.public_url}/auth/signed-out") for p in post_logout)
    assert fill(client["rootUrl"]) == console.public_url
    # Sign-out must not send people to another site.
    assert not any(_matches(p, "https://elsewhere.example/auth/signed-out") for p in post_logout)


def test_console_asks_keycloak_only_for_scopes_its_client_has(compose, realm, monkeypatch):
    console = console_settings(compose, FAKE_HOST_ENV, monkeypatch)
    client = realm_client(realm, console.signin_client_id)
    known = {_OIDC_SCOPE, *client["defaultClientScopes"], *client["optionalClientScopes"]}
    asked = set(console.signin_scope.split())
    assert _OIDC_SCOPE in asked
    assert asked <= known, f"Keycloak answers invalid_scope for {asked - known}"
    # What the dev provider needs ("tousu") is the settings' default, not compose's.
    assert "tousu" in settings_class("console").model_fields["signin_scope"].default.split()


def test_workbench_tokens_carry_what_the_services_read_like_the_clis(realm):
    """Audience tousu, the roles and the department: the same mappers as tousu-cli."""

    def mappers(client_id: str) -> dict[str, dict[str, str]]:
        client = realm_client(realm, client_id)
        return {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}

    workbench, cli = mappers("tousu-workbench"), mappers("tousu-cli")
    assert workbench == cli
    assert workbench["oidc-audience-mapper"]["included.custom.audience"] == "tousu"
    for kind in ("oidc-usermodel-realm-role-mapper", "oidc-usermodel-attribute-mapper"):
        assert workbench[kind]["access.token.claim"] == "true"
    assert workbench["oidc-usermodel-realm-role-mapper"]["claim.name"] in (
        settings_class("console").model_fields["oidc_role_claims"].default_factory()
    )


def test_keycloak_sessions_outlast_the_consoles_so_refresh_keeps_working(
    compose, realm, monkeypatch
):
    """Without offline_access the refresh token lives as long as the Keycloak session:
    idle and maximum must cover the console's, or people are sent to sign in early."""
    console = console_settings(compose, FAKE_HOST_ENV, monkeypatch)
    client = realm_client(realm, console.signin_client_id)
    assert client.get("attributes", {}).get("use.refresh.tokens", "true") == "true"
    assert client["standardFlowEnabled"] is True
    if "offline_access" in console.signin_scope.split():
        assert "offline_access" in client["optionalClientScopes"]
        return
    # The console renews the access token only when a request needs it: the last
    # refresh can be up to one access-token lifetime before the last request.
    idle = console.session_idle_minutes * 60 + realm["accessTokenLifespan"]
    assert realm["ssoSessionIdleTimeout"] >= idle
    assert realm["ssoSessionMaxLifespan"] >= console.session_max_hours * 3600


# -- 9. the image: the wheel carries every package's files -------------------------------

PACKAGE_SOURCES = {
    "tousu_common": ROOT / "libs" / "common" / "src" / "tousu_common",
    **{f"tousu_{name}": ROOT / "services" / name / "src" / f"tousu_{name}" for name in SERVICES},
}


def test_the_wheel_lists_every_package():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(packages) == sorted(
        str(path.relative_to(ROOT)) for path in PACKAGE_SOURCES.values()
    )


def test_the_wheel_the_image_installs_carries_templates_static_files_and_migrations(tmp_path):
    """deploy/Dockerfile pip-installs the project: its wheel must hold every file of
    the packages, not only the Python modules (the console's pages, htmx, CSS)."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("tousu-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    missing = []
    for package, source in PACKAGE_SOURCES.items():
        for path in source.rglob("*"):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            name = f"{package}/{path.relative_to(source).as_posix()}"
            if name not in in_wheel:
                missing.append(name)
    assert not missing, f"not in the wheel: {missing}"
    console = {name for name in in_wheel if name.startswith("tousu_console/")}
    for expected in (
        "tousu_console/templates/base.html",
        "tousu_console/static/console.css",
        "tousu_console/static/console.js",
        "tousu_console/migrations/script.py.mako",
    ):
        assert expected in console
    assert any(n.startswith("tousu_console/static/vendor/htmx-") for n in console)


def test_the_docker_build_context_keeps_the_packages_files():
    """.dockerignore must not drop anything the wheel needs from libs/ or services/."""
    import fnmatch

    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    dropped = []
    for source in PACKAGE_SOURCES.values():
        for path in source.rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if "__pycache__" in path.parts:
                continue
            for pattern in patterns:
                if fnmatch.fnmatch(relative, pattern) or any(
                    fnmatch.fnmatch(part, pattern.removeprefix("**/"))
                    for part in path.relative_to(ROOT).parts
                ):
                    dropped.append((relative, pattern))
    assert not dropped, dropped
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert "COPY libs/ libs/" in dockerfile and "COPY services/ services/" in dockerfile
