"""``tousu``: the developer's command line (run the stack, mint a token, migrate, contract)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import secrets
import signal
import sys
import time
import webbrowser
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from tousu_common import contract
from tousu_common.auth import ROLES, mint_token
from tousu_common.devstack import (
    ALL_SERVICES,
    CONSOLE,
    SERVICES,
    PortTaken,
    Stack,
    Supervisor,
    check_ports_free,
)
from tousu_common.mailsink import MailSink
from tousu_common.oidc_dev import (
    CLI_CLIENT,
    CLI_PORTS,
    DEV_CLIENT,
    RESOURCE,
    DevIdentityProvider,
    DevIssuanceError,
    NoDevProvider,
    find_dev_provider,
    issue_dev_token,
    node_binary,
    provider_installed,
    seed_users,
)

VAR_DIR = Path("var")
SECRET_FILE = VAR_DIR / "dev-secret"
#: The dev OpenID provider listens on `tousu run`'s base port + this (8010).
IDENTITY_PORT_OFFSET = 9
DOCS_DIR = Path("docs")
TRY_IT = """try:
  export TOKEN=<the token above>
  curl -s -X POST {intake}/v1/complaints -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' \\
       -d '{{"title":"发动机漏油","description":"停在路边，漏油","customer_name":"王先生"}}'

Ctrl-C stops everything."""


def dev_secret() -> str:
    """The secret from the environment, else this checkout's dev secret (created once)."""
    from_env = os.environ.get("TOUSU_JWT_SECRET")
    if from_env:
        return from_env
    if not SECRET_FILE.exists():
        VAR_DIR.mkdir(exist_ok=True)
        SECRET_FILE.write_text(secrets.token_urlsafe(48))
        SECRET_FILE.chmod(0o600)
    return SECRET_FILE.read_text().strip()


def dev_bearer_token(
    sub: str, roles: list[str], department: str | None, ttl: timedelta, auth: str = "auto"
) -> tuple[str, str]:
    """A token the dev stack here accepts, and what kind it is (for stderr).

    ``auth``: ``auto``, signed by `tousu run`'s OpenID provider (var/oidc-dev) if it
    answers, else HS256 with the dev secret; ``oidc``, the provider's or
    :class:`DevIssuanceError`; ``shared-secret``, HS256. A provider that answers but
    refuses raises :class:`DevIssuanceError` (an HS256 token would not work either).
    """
    what = f"sub={sub} roles={','.join(roles)} department={department or '-'}"
    fallback = ""
    if auth != "shared-secret":
        try:
            provider = find_dev_provider(VAR_DIR / "oidc-dev")
            if provider is None:
                raise NoDevProvider("no dev OpenID provider state in var/oidc-dev")
            seconds = max(1, round(ttl.total_seconds()))
            token = issue_dev_token(provider, sub, roles, department, ttl=seconds)
            return (
                token,
                f"access token signed by the dev OpenID provider {provider.issuer} ({what})",
            )
        except NoDevProvider as exc:
            if auth == "oidc":
                raise NoDevProvider(f"{exc} (is `tousu run` running here?)") from exc
            fallback = f"{exc}: "
    token = mint_token(dev_secret(), subject=sub, roles=roles, department=department, ttl=ttl)
    kind = f"{fallback}HS256 token signed with the dev secret ({what})"
    if fallback:
        kind += "; only a shared-secret stack (`tousu run --auth shared-secret`) accepts it"
    return token, kind


def cmd_token(args: argparse.Namespace) -> int:
    """A token the running dev stack accepts (see :func:`dev_bearer_token`)."""
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    try:
        token, kind = dev_bearer_token(
            args.sub, roles, args.department, timedelta(hours=args.ttl_hours), args.auth
        )
    except DevIssuanceError as exc:
        print(f"tousu token: {exc}", file=sys.stderr)
        return 1
    print(f"tousu token: {kind}", file=sys.stderr)
    print(token)
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    """Sign in at the OpenID provider in the browser; print the access token."""
    from tousu_common.signin import DEFAULT_SCOPE, SignInError, login_with_browser

    issuer = args.issuer or os.environ.get("TOUSU_OIDC_ISSUER")
    config = VAR_DIR / "oidc-dev" / "config.json"
    if not issuer and config.exists():
        issuer = json.loads(config.read_text())["issuer"]
    if not issuer:
        print("no issuer: pass --issuer or set TOUSU_OIDC_ISSUER", file=sys.stderr)
        return 2

    def show(url: str) -> bool:
        print(f"sign in at:\n  {url}", file=sys.stderr, flush=True)
        return webbrowser.open(url)

    try:
        tokens = login_with_browser(
            issuer,
            args.client_id,
            CLI_PORTS,
            resource=args.resource,
            scope=args.scope or DEFAULT_SCOPE,
            open_browser=show,
        )
    except SignInError as exc:
        print(f"sign-in failed: {exc}", file=sys.stderr)
        return 1
    print(f"signed in as {tokens.id_claims.get('sub')}", file=sys.stderr)
    print(tokens.access_token)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from tousu_common.migrations import upgrade

    names = [spec.name for spec in ALL_SERVICES] if args.service == "all" else [args.service]
    for name in names:
        settings = importlib.import_module(f"tousu_{name}.config").Settings()
        upgrade(f"tousu_{name}", settings.database_url)
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    if args.write:
        for path in contract.write(DOCS_DIR):
            print(f"wrote {path}")
        return 0
    outdated = contract.stale(DOCS_DIR)
    for relative in outdated:
        print(f"stale: docs/{relative} (run `tousu contract --write`)", file=sys.stderr)
    return 1 if outdated else 0


def _dev_identity(args: argparse.Namespace) -> DevIdentityProvider | None:
    """The dev OpenID provider `tousu run` starts (None: HS256 tokens, as before)."""
    if args.auth == "shared-secret":
        return None
    if node_binary() is None or not provider_installed():
        print(
            "the dev OpenID provider is not installed (scripts/ensure-oidc-dev.sh): "
            "services accept HS256 dev tokens instead",
            file=sys.stderr,
        )
        return None
    console = console_url(args.base_port)
    return DevIdentityProvider(
        VAR_DIR.resolve() / "oidc-dev",
        port=args.base_port + IDENTITY_PORT_OFFSET,
        redirect_uris=[f"{console}/auth/callback"],
        post_logout_redirect_uris=[f"{console}/auth/signed-out"],
        access_token_ttl=12 * 3600,
        log_path=VAR_DIR.resolve() / "oidc-dev.log",
        # `tousu token` gets its tokens here, as the dev admin client (oidc_dev.py).
        dev_issuance=True,
    )


def console_url(base_port: int) -> str:
    """Where `tousu run` serves the console: the port after the four services'."""
    return f"http://127.0.0.1:{base_port + len(SERVICES)}"


def _print_identity(identity: DevIdentityProvider) -> None:
    print(
        f"identity       {identity.issuer}   OpenID provider (oidc-provider), log: var/oidc-dev.log"
    )
    print("\nsign in as (user / password, roles, department):")
    for user in seed_users():
        print(
            f"  {user.username:<12} {identity.password(user.username):<14} "
            f"{','.join(user.roles):<11} {user.department or '-'}"
        )
    print("`tousu login` signs in from the terminal and prints that person's token.")


def cmd_run(args: argparse.Namespace) -> int:
    """Start the stack, restart whatever dies, stop it all on SIGINT/SIGTERM.

    Stopping: SIGTERM to every service, SIGKILL to any still running
    ``STOP_GRACE_S`` later, then the broker. Every child is in a process group
    led by a reaper that does the same if this process is killed outright.
    """
    # Outbound mail lands in var/mail/*.eml instead of reaching anybody.
    mail = MailSink(port=args.base_port + 25, directory=VAR_DIR.resolve() / "mail")
    identity = _dev_identity(args)
    stack = Stack(
        var_dir=VAR_DIR.resolve(),
        jwt_secret=dev_secret(),
        bootstrap=args.bootstrap,
        ports={spec.name: args.base_port + n for n, spec in enumerate(ALL_SERVICES)},
        services=ALL_SERVICES,
        smtp_port=args.base_port + 24,
        mail_port=args.base_port + 25,
        quiet=False,
        identity=identity,
    )

    def say(line: str) -> None:
        print(f"[tousu run] {line}", file=sys.stderr, flush=True)

    stop = False
    phase = "starting"
    mail_started = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop
        if phase == "stopping":
            return  # already on it; a second Ctrl-C must not cut the stop short
        stop = True
        if phase == "starting":
            raise KeyboardInterrupt  # leave the start at once; finally stops what started

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print("starting Tousu: broker, migrations, four services and the console …", flush=True)
    try:
        check_ports_free({"outbound mail sink": mail.port})
        mail.start()
        mail_started = True
        stack.start(timeout=90)
        phase = "running"
        if identity is not None:
            # Client credentials of the dev client: an admin token the provider signed.
            token = identity.client_credentials_token(DEV_CLIENT)
            what_it_is = "dev token (admin, from the OpenID provider, 12 hours)"
        else:
            token = mint_token(
                dev_secret(),
                subject="dev",
                roles=sorted(ROLES),
                department="csc",
                ttl=timedelta(days=7),
            )
            what_it_is = "dev token (all roles, 7 days)"
        print(
            f"\nbroker   {stack.bootstrap}  (memory-only Tansu)"
            if stack.broker
            else f"\nbroker   {stack.bootstrap}"
        )
        for spec in SERVICES:
            url = stack.url(spec.name)
            print(f"{spec.name:<14} {url}   docs: {url}/docs   log: var/{spec.name}.log")
        console = stack.url(CONSOLE.name)
        print(f"{'console':<14} {console}/   the staff's workbench: sign in as a user below")
        print(f"mail (in)      smtp://127.0.0.1:{stack.smtp_port}   complaints mailbox (intake)")
        print(f"mail (out)     smtp://127.0.0.1:{mail.port}   delivered to var/mail/*.eml")
        if identity is not None:
            _print_identity(identity)
        print(f"\n{what_it_is}:\n{token}\n")
        print(TRY_IT.format(intake=stack.url("intake")), flush=True)
        supervisor = Supervisor(stack, report=say)
        while not stop:
            supervisor.check()
            if identity is not None and identity.process and identity.process.poll() is not None:
                say("the OpenID provider exited; starting it again (see var/oidc-dev.log)")
                identity.process = None
                identity.start()
            time.sleep(0.2)
    except PortTaken as exc:
        say(f"cannot start: {exc}. Stop what holds it, or pick other ports with --base-port.")
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        phase = "stopping"
        print("stopping …", flush=True)
        stack.stop(report=say)
        if mail_started:
            mail.stop()
        print("stopped", flush=True)
    return 0


async def fetch_ops_status(
    urls: Mapping[str, str], token: str, client: httpx.AsyncClient
) -> list[dict[str, Any]]:
    """Each service's ``/v1/ops/status`` (or why it could not be read), in ``urls`` order."""

    async def one(name: str, url: str) -> dict[str, Any]:
        try:
            response = await client.get(
                f"{url.rstrip('/')}/v1/ops/status",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
        except httpx.HTTPError as exc:
            return {"service": name, "error": f"unreachable: {type(exc).__name__}"}
        if response.status_code != 200:
            return {"service": name, "error": f"HTTP {response.status_code}"}
        return {"service": name, **response.json()}

    return list(await asyncio.gather(*(one(name, url) for name, url in urls.items())))


def format_ops_table(statuses: list[dict[str, Any]]) -> str:
    """One line per service: ready, outbox backlog, dead letters still to deal with."""
    lines = [f"{'service':<14} {'ready':<6} {'outbox':>7} {'oldest':>9} {'dead':>5}  resolved"]
    for status in statuses:
        if "error" in status:
            lines.append(f"{status['service']:<14} {'no':<6} {status['error']}")
            continue
        outbox = status["outbox"]
        age = outbox["oldest_pending_age_s"]
        by_status: dict[str, int] = {}
        for counts in status["dead_letters"].values():
            for state, count in counts.items():
                by_status[state] = by_status.get(state, 0) + count
        resolved = by_status.get("redriven", 0) + by_status.get("discarded", 0)
        lines.append(
            f"{status['service']:<14} {'yes' if status['ready'] else 'no':<6} "
            f"{outbox['pending']:>7} {'-' if age is None else f'{age:.1f}s':>9} "
            f"{by_status.get('dead', 0):>5}  {resolved}"
        )
    return "\n".join(lines)


def cmd_ops_status(args: argparse.Namespace) -> int:
    from tousu_common.settings import ServiceSettings

    settings = ServiceSettings(jwt_secret=dev_secret())
    urls = {spec.name: getattr(settings, f"{spec.name}_url") for spec in SERVICES}
    try:  # `tousu run`'s provider signs it when it runs (an OpenID stack refuses HS256)
        token, _ = dev_bearer_token("cli:ops", ["admin"], None, timedelta(minutes=5))
    except DevIssuanceError as exc:
        print(f"tousu ops status: {exc}", file=sys.stderr)
        return 1

    async def collect() -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            return await fetch_ops_status(urls, token, client)

    statuses = asyncio.run(collect())
    print(format_ops_table(statuses))
    return 0 if all(status.get("ready") for status in statuses) else 1


def cmd_broker(args: argparse.Namespace) -> int:
    from tousu_common.devstack import Broker

    broker = Broker(port=args.port).start()
    print(f"broker on {broker.bootstrap}; Ctrl-C stops it", flush=True)
    try:
        while broker.process and broker.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tousu", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="start broker, four services and the console on SQLite under var/"
    )
    run.add_argument("--bootstrap", help="use this Kafka instead of starting a local broker")
    run.add_argument(
        "--base-port", type=int, default=SERVICES[0].port, help="intake's port; the others follow"
    )
    run.add_argument(
        "--auth",
        choices=["oidc", "shared-secret"],
        default="oidc",
        help="oidc (default): the dev OpenID provider signs every token; "
        "shared-secret: HS256 tokens from `tousu token`",
    )
    run.set_defaults(func=cmd_run)

    login = commands.add_parser(
        "login", help="sign in at the OpenID provider (browser) and print the access token"
    )
    login.add_argument("--issuer", help="default: TOUSU_OIDC_ISSUER, else `tousu run`'s provider")
    login.add_argument("--client-id", default=CLI_CLIENT)
    login.add_argument("--resource", default=RESOURCE, help="RFC 8707 resource indicator")
    login.add_argument(
        "--scope",
        default=os.environ.get("TOUSU_LOGIN_SCOPE"),
        help="scopes to ask for (default: TOUSU_LOGIN_SCOPE, else `openid profile tousu`; "
        "the Keycloak realm in deploy/ knows `openid profile`)",
    )
    login.set_defaults(func=cmd_login)

    token = commands.add_parser(
        "token",
        help="a dev bearer token: from `tousu run`'s OpenID provider if it is running, "
        "else HS256 with the dev secret",
    )
    token.add_argument("--sub", default="dev")
    token.add_argument(
        "--roles", default="agent", help=f"comma-separated: {', '.join(sorted(ROLES))}"
    )
    token.add_argument("--department", default=None)
    token.add_argument("--ttl-hours", type=float, default=12)
    token.add_argument(
        "--auth",
        choices=["auto", "oidc", "shared-secret"],
        default="auto",
        help="auto (default): signed by `tousu run`'s provider (var/oidc-dev) if it "
        "answers, else HS256; oidc: the provider or fail; shared-secret: HS256 "
        "with TOUSU_JWT_SECRET or var/dev-secret",
    )
    token.set_defaults(func=cmd_token)

    migrate = commands.add_parser(
        "migrate", help="upgrade a service's database to the latest revision"
    )
    migrate.add_argument("service", choices=[*(spec.name for spec in ALL_SERVICES), "all"])
    migrate.set_defaults(func=cmd_migrate)

    contract_cmd = commands.add_parser(
        "contract", help="check (default) or --write docs/ event contract"
    )
    contract_cmd.add_argument("--write", action="store_true")
    contract_cmd.set_defaults(func=cmd_contract)

    broker = commands.add_parser("broker", help="start only the local broker")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(func=cmd_broker)

    ops = commands.add_parser("ops", help="the operator's view of the running services")
    ops_commands = ops.add_subparsers(dest="ops_command", required=True)
    ops_status = ops_commands.add_parser(
        "status", help="each service's health, outbox backlog and dead letters"
    )
    ops_status.set_defaults(func=cmd_ops_status)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
