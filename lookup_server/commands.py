"""`recs serve` (and `recs-serve` on a host with only the serve extra): the lookup server under gunicorn."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from conf import ConfigError, load_config
from export import store
from lookup_server.app import EFFECTIVE_CONFIG
from lookup_server.snapshot import Snapshot


def register(sub) -> None:
    serve = sub.add_parser("serve", help="serve the live snapshot over HTTP (gunicorn, foreground)",
                           description="Start gunicorn with serve.workers workers on serve.host:serve.port "
                                       "(127.0.0.1:8000 by default), answering from {snapshots}/CURRENT.")
    serve.add_argument("--port", type=int, help="override serve.port")
    serve.set_defaults(handler=run_serve)


def gunicorn_command(config, port: int | None = None) -> tuple[list[str], dict]:
    """The gunicorn argv and environment that serve `config`.

    The effective configuration travels as JSON in the workers' environment ($RECS_EFFECTIVE_CONFIG), never
    in a file: it may hold a Redis password and the session secret. Without serve.session.secret, one random
    secret per start is shared by the workers.
    """
    effective = config.model_dump(mode="json")
    secret = config.serve.session.secret
    effective["serve"]["session"]["secret"] = secret.get_secret_value() if secret else secrets.token_hex(32)
    env = {**os.environ, EFFECTIVE_CONFIG: json.dumps(effective),
           "RECS_SERVE__HOST": config.serve.host,
           "RECS_SERVE__PORT": str(port if port is not None else config.serve.port),
           "RECS_SERVE__WORKERS": str(config.serve.workers), "RECS_SERVE__THREADS": str(config.serve.threads),
           "RECS_SERVE__TIMEOUT_SECONDS": str(config.serve.timeout_seconds)}
    conf = Path(__file__).with_name("gunicorn_conf.py")
    argv = [sys.executable, "-m", "gunicorn", "-c", str(conf), "lookup_server.app:from_environment()"]
    return argv, env


def example_urls(config) -> list[str]:
    """A few URLs worth trying against the live snapshot of `config` (ids taken from it)."""
    root = Path(config.paths.snapshots)
    name = store.current(root)
    if name is None:
        return []
    snapshot = Snapshot(root / name)
    try:
        user = next(iter(snapshot.families["user_recs"].keys())).decode()
        items = [k.decode() for k, _ in zip(snapshot.families["fbt"].keys(), range(2))]
    finally:
        snapshot.close()
    base = f"http://{config.serve.host}:{config.serve.port}"
    first = items[0] if items else "unknown-item"
    cart = ",".join(items) or "unknown-item"
    return [f"{base}/v1/users/{user}/recommendations?k=5", f"{base}/v1/users/{user}/recommendations?k=5&viewed={first}",
            f"{base}/v1/users/new-visitor/recommendations?k=5", f"{base}/v1/items/{first}/similar?k=5",
            f"{base}/v1/items/{first}/bought-together?k=5", f"{base}/v1/cart/bought-together?items={cart}&k=5",
            f"{base}/v1/snapshot"]


def run_serve(args, config) -> int:
    return wait_server(start_server(config, args.port))


def start_server(config, port: int | None) -> subprocess.Popen:
    """gunicorn serving config.paths.snapshots, started in the background (its address printed)."""
    argv, env = gunicorn_command(config, port)
    address = f"http://{env['RECS_SERVE__HOST']}:{env['RECS_SERVE__PORT']}"
    print(f"serving {config.paths.snapshots} at {address}  (Ctrl-C stops)", flush=True)
    return subprocess.Popen(argv, env=env)


def wait_server(server: subprocess.Popen) -> int:
    """Wait for gunicorn to end; a SIGTERM to this process or Ctrl-C stops it first."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())   # a `kill` stops gunicorn too
    try:
        return server.wait()
    except KeyboardInterrupt:          # Ctrl-C reached gunicorn as well (same process group): let it finish
        return server.wait() and 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """`recs-serve`: the server alone, for a host that installed only the `serve` extra (no Spark, no Airflow)."""
    parser = argparse.ArgumentParser(prog="recs-serve", description="Serve {snapshots}/CURRENT over HTTP with "
                                     "gunicorn (the same as `recs serve`, without the pipeline's packages).")
    parser.add_argument("--env", help="configuration environment: conf/<ENV>.yaml (default $RECS_ENV or local)")
    parser.add_argument("--config", metavar="FILE", help="extra YAML layered on top (default $RECS_CONFIG)")
    parser.add_argument("--port", type=int, help="override serve.port")
    args = parser.parse_args(argv)
    try:
        config = load_config(env=args.env, config_file=args.config)
    except ConfigError as err:
        print(f"recs-serve: error: {err}", file=sys.stderr)
        return 2
    return run_serve(args, config)
