"""A real Spark standalone cluster on this machine: `make spark-cluster`.

A master and `--workers` workers bound to 127.0.0.1, plus the history server, all started with the pyspark
package's own launcher (`bin/spark-class`: nothing to download). Event logs go to var/spark-events, so
the Spark UI of a finished run opens in the history server; workers keep their scratch space under
var/spark-cluster/. Ctrl-C or SIGTERM stops every JVM it started (each runs in a process group of its own,
and the executors they fork die with them).

    python -m spark_jobs.cluster_local [--workers 2] [--cores 1] [--memory 3g]

Point `recs` at it with `--env standalone` (conf/standalone.yaml: master spark://127.0.0.1:7077, event
logs on); point `make airflow` at it with RECS_SPARK_MASTER=spark://127.0.0.1:7077. On one machine the
driver and the executors share the local disk, so the lake under var/ is a shared path; on a real cluster
the lake must be a path every node reads and writes (HDFS, s3a://, a shared mount), and the snapshot build
stages its SST files on the driver (spark.local.dir on a real cluster: see the README).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MASTER_PORT, MASTER_UI, HISTORY_UI = 7077, 8090, 18080


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def commands(workers: int, cores: int, memory: str, root: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, argv, extra environment) of every daemon: master, workers, history server."""
    spark_class = str(spark_home() / "bin" / "spark-class")
    master = f"spark://127.0.0.1:{MASTER_PORT}"
    events = root / "spark-events"
    daemons = [("master", [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                           "--port", str(MASTER_PORT), "--webui-port", str(MASTER_UI)], {})]
    for n in range(workers):
        work = root / "spark-cluster" / f"worker-{n}"
        daemons.append((f"worker-{n}", [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                        "--cores", str(cores), "--memory", memory, "--webui-port", str(8091 + n),
                                        "--work-dir", str(work), master], {}))
    history = (f"-Dspark.history.fs.logDirectory=file://{events} -Dspark.history.ui.port={HISTORY_UI} "
               "-Dspark.history.ui.host=127.0.0.1")    # not every Spark honours the host: it is said in the README
    daemons.append(("history", [spark_class, "org.apache.spark.deploy.history.HistoryServer"],
                    {"SPARK_HISTORY_OPTS": history}))
    return daemons


def start(workers: int, cores: int, memory: str, root: Path) -> list[tuple[str, subprocess.Popen]]:
    (root / "spark-events").mkdir(parents=True, exist_ok=True)
    logs = root / "spark-cluster" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_NO_DAEMONIZE": "1", "PYSPARK_PYTHON": sys.executable}
    started = []
    for name, argv, extra in commands(workers, cores, memory, root):
        out = open(logs / f"{name}.log", "ab")
        started.append((name, subprocess.Popen(argv, env={**env, **extra}, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True, cwd=PROJECT_ROOT)))
        if name == "master":
            wait_for(f"http://127.0.0.1:{MASTER_UI}/json/", 60)
    return started


def wait_for(url: str, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def alive_workers() -> int:
    import json

    with urllib.request.urlopen(f"http://127.0.0.1:{MASTER_UI}/json/", timeout=5) as response:
        return sum(1 for w in json.loads(response.read()).get("workers", []) if w.get("state") == "ALIVE")


def stop(started: list[tuple[str, subprocess.Popen]], grace: float = 20) -> None:
    """SIGTERM each daemon's process group (executors included), then SIGKILL what is left."""
    for _, process in reversed(started):
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace
    for _, process in started:
        try:
            process.wait(max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Spark standalone master, workers and history server on 127.0.0.1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="3g", help="memory per worker")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "var")
    args = parser.parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)
    started = start(args.workers, args.cores, args.memory, args.root.resolve())
    try:
        deadline = time.time() + 60
        while alive_workers() < args.workers and time.time() < deadline:
            time.sleep(0.5)
        print(f"\nSpark master spark://127.0.0.1:{MASTER_PORT} (UI http://127.0.0.1:{MASTER_UI}), "
              f"{alive_workers()} worker(s) of {args.cores} core(s) and {args.memory}; history server "
              f"http://127.0.0.1:{HISTORY_UI} (event logs {args.root.resolve() / 'spark-events'}).\n"
              "Run the chain on it: recs --env standalone run --date 2026-11-14. Ctrl-C stops every JVM.\n",
              flush=True)
        while all(process.poll() is None for _, process in started):
            time.sleep(1)
        print("a Spark daemon exited: see var/spark-cluster/logs", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(started)


if __name__ == "__main__":
    sys.exit(main())
