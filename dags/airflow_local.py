"""Airflow on this machine: `make airflow` (standalone, for the UI) and the environment the tests use.

Everything lives under one AIRFLOW_HOME (default var/airflow): a SQLite database, logs, a JWT secret
made once, and the admin password Airflow generates. The API server and UI bind 127.0.0.1 only;
`parallelism` is small (every slot is a worker process); the project's dags/ is the DAG folder; the
Spark connection `spark_default` is the master of the configuration the DAG reads ($RECS_ENV,
$RECS_CONFIG: local[2] by default, spark://127.0.0.1:7077 with RECS_ENV=standalone) unless
AIRFLOW_CONN_SPARK_DEFAULT is set (it is kept) or RECS_SPARK_MASTER names another master.

    python dags/airflow_local.py [--port 8080]      start, print the URL and credentials; Ctrl-C stops all
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORDS = "simple_auth_manager_passwords.json.generated"


def environment(home: Path, port: int = 8080, master: str | None = None, parallelism: int = 4,
                log_ports: tuple[int, int] = (8793, 8794)) -> dict[str, str]:
    """os.environ plus the settings of a local Airflow rooted at `home`; the API on 127.0.0.1:port, the
    scheduler's and triggerer's log servers on log_ports (Airflow binds those on every interface)."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    secret = home / "jwt_secret"
    if not secret.is_file():       # created readable by its owner only (0600), never world-readable
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    secret.chmod(0o600)
    master = master or os.environ.get("RECS_SPARK_MASTER") or configured_master()
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret.read_text().strip(),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_ports[0]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_ports[1]),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        # a connection the user set in the environment wins; else $RECS_SPARK_MASTER, else the configuration's
        "AIRFLOW_CONN_SPARK_DEFAULT": os.environ.get("AIRFLOW_CONN_SPARK_DEFAULT")
        or json.dumps({"conn_type": "spark", "host": master}),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",    # spark-submit and airflow of this venv
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "OPENBLAS_NUM_THREADS": "1",
        "NO_PROXY": "*",
    })
    return env


def configured_master() -> str:
    """spark.master of the configuration the DAG file loads ($RECS_ENV, $RECS_CONFIG, RECS_SPARK__MASTER)."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from conf import load_config

    return load_config().spark.master


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def admin_password(home: Path) -> str | None:
    """The admin password standalone generated, once it has."""
    path = Path(home) / PASSWORDS
    return json.loads(path.read_text()).get("admin") if path.is_file() else None


def start(env: dict[str, str], log_file: Path | None = None) -> subprocess.Popen:
    """Start `airflow standalone` with `env` (see environment()) in its own process group: stop() ends
    every process it starts."""
    out = open(log_file, "ab") if log_file else None
    return subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, cwd=PROJECT_ROOT, stdout=out,
                            stderr=subprocess.STDOUT if out else None, start_new_session=True)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), whatever process group or session it moved to."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def stop(process: subprocess.Popen, grace: float = 30) -> None:
    """End standalone and its scheduler, dag-processor, triggerer and api-server (the whole group), and every
    process below them: Airflow runs each task (spark-submit, its JVM, Python workers) in a group of its own."""
    tasks = descendants(process.pid)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)      # anything left in the group
    except ProcessLookupError:
        pass
    for pid in tasks + descendants(process.pid):     # task processes in groups of their own
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Airflow standalone for local use (127.0.0.1, SQLite)")
    parser.add_argument("--home", type=Path, default=PROJECT_ROOT / "var" / "airflow")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):       # Ctrl-C, `kill`, or a background job's SIGINT
        signal.signal(signum, interrupt)
    process = start(environment(args.home, args.port))
    try:
        while admin_password(args.home) is None and process.poll() is None:
            time.sleep(1)
        print(f"\nAirflow UI: http://127.0.0.1:{args.port}   user admin   password {admin_password(args.home)}\n"
              "DAG recs_nightly is paused at creation: switch it on, or use Trigger (params: date, env, config),\n"
              "e.g. date 2026-11-14 for the committed synthetic sample. Ctrl-C stops every Airflow process.\n",
              flush=True)
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
