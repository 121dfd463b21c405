"""`make fuzz`: the schemathesis command-line tool against the whole running stack.

Starts the broker and the four services on loopback (SQLite under var/fuzz, a
fresh secret, all-roles token), runs ``st run`` against each service's own
OpenAPI document with every check (``--checks all``) and every phase (examples,
coverage, fuzzing, stateful: the OpenAPI links lead from the operations that
create a resource to those that use it), then stops the stack — also when a run
fails or is interrupted.

Environment:
  FUZZ_EXAMPLES   examples per operation (default 50)
  FUZZ_SEED       seed to replay a run (default: a new one, printed)
  FUZZ_SERVICES   comma-separated subset (default intake,routing,rectification,notify)
  FUZZ_WORKERS    schemathesis workers per service (default 2)
  FUZZ_MAX_TIME   optional time budget per service, seconds
  FUZZ_PHASES     default examples,coverage,fuzzing,stateful

Configuration: scripts/fuzz_config/<service>.toml (the few operations whose refusals
no schema can state, each with its reason); hooks: scripts/fuzz_hooks.py (files of each media
type a multipart part may be, and schema-valid cases of those operations made to meet
what the schema cannot say: due dates from today, a notice's days in its year, unique
rule ids). Reports (JUnit and NDJSON) land in
var/fuzz/<service>/; the exit status is 0 only when every service's run passed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from tousu_common.auth import ROLES, mint_token
from tousu_common.devstack import SERVICES, Stack, free_port

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "fuzz"
ALL = tuple(spec.name for spec in SERVICES)


def settings_from_env() -> dict[str, str]:
    return {
        "examples": os.environ.get("FUZZ_EXAMPLES", "50"),
        "seed": os.environ.get("FUZZ_SEED") or str(secrets.randbelow(2**63)),
        "services": os.environ.get("FUZZ_SERVICES", ",".join(ALL)),
        "workers": os.environ.get("FUZZ_WORKERS", "2"),
        "max_time": os.environ.get("FUZZ_MAX_TIME", ""),
        "phases": os.environ.get("FUZZ_PHASES", "examples,coverage,fuzzing,stateful"),
    }


def st_command(
    service: str, url: str, token: str, options: dict[str, str], report_dir: Path
) -> list[str]:
    config = ROOT / "scripts" / "fuzz_config" / f"{service}.toml"
    command = [
        str(Path(sys.executable).with_name("st")),
        *(["--config-file", str(config)] if config.exists() else []),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--phases",
        options["phases"],
        "--max-examples",
        options["examples"],
        "--seed",
        options["seed"],
        "--workers",
        options["workers"],
        "--request-timeout",
        "60",
        "--output-truncate",
        "true",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(report_dir),
    ]
    if options["max_time"]:
        command += ["--max-time", options["max_time"]]
    return command


def st_env() -> dict[str, str]:
    """The hooks (scripts/fuzz_hooks.py) give schemathesis real files of each media type."""
    path = os.pathsep.join(filter(None, [str(ROOT / "scripts"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_hooks", "PYTHONPATH": path}


def main() -> int:
    options = settings_from_env()
    wanted = [name.strip() for name in options["services"].split(",") if name.strip()]
    unknown = set(wanted) - set(ALL)
    if unknown:
        print(f"unknown services: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    print(
        f"fuzz: seed {options['seed']}, {options['examples']} examples per operation, "
        f"phases {options['phases']}, services {', '.join(wanted)}\n"
        f"replay: FUZZ_SEED={options['seed']} FUZZ_EXAMPLES={options['examples']} make fuzz",
        flush=True,
    )
    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    secret = secrets.token_urlsafe(48)
    stack = Stack(
        var_dir=VAR,
        jwt_secret=secret,
        ports={name: free_port() for name in ALL},
        # Whether a generated webhook host resolves is the fuzzing machine's DNS, not
        # the contract: the stack under test accepts any well-formed target.
        extra_env={"TOUSU_NOTIFY_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"},
    )
    token = mint_token(
        secret, subject="fuzzer", roles=sorted(ROLES), department="csc", ttl=timedelta(days=1)
    )
    # SIGTERM (a CI timeout, `timeout 1500 make fuzz`) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    results: dict[str, int] = {}
    started = time.monotonic()
    try:
        print("starting the stack …", flush=True)
        stack.start(timeout=180)
        for name in wanted:
            report_dir = VAR / name
            print(f"\n==== {name} ({stack.url(name)})", flush=True)
            command = st_command(name, stack.url(name), token, options, report_dir)
            results[name] = subprocess.call(command, cwd=ROOT, env=st_env())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        results.setdefault("interrupted", 130)
    finally:
        print("stopping the stack …", flush=True)
        stack.stop()
    print(f"\nfuzz finished in {time.monotonic() - started:.0f}s, seed {options['seed']}")
    for name, code in results.items():
        print(f"  {name:<14} {'passed' if code == 0 else f'FAILED (exit {code})'}")
    return 0 if results and all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
