"""Load benchmark of the lookup server over loopback, against a bare Flask app under the same gunicorn.

    python -m lookup_server.bench [--env local --seconds 5 --concurrency 4]   (or `make bench-serve`)

Serves the live snapshot of the environment (run `make demo` first) with serve.workers
gunicorn workers, drives each endpoint for --seconds with --concurrency client processes
on keep-alive connections (one request at a time each), and prints requests/s, p50 and
p99 per endpoint; then the same against lookup_server/hello.py; then the home endpoint
again at half its measured peak rate (paced clients), whose p99 is the latency target.
Client and server share this machine's cores, so absolute figures are a floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from conf import load_config
from export import store
from lookup_server.commands import gunicorn_command
from lookup_server.snapshot import Snapshot


def client(port: int, paths: list[str], seconds: float, rate: float | None, out) -> None:
    """Issue requests round-robin over paths until the deadline; send back latencies (s) and failures."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies, failures, n = [], 0, 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        if rate:
            due = start + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        began = time.perf_counter()
        try:
            conn.request("GET", paths[n % len(paths)])
            resp = conn.getresponse()
            resp.read()
            failures += resp.status >= 500
        except OSError:
            failures += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies.append(time.perf_counter() - began)
        n += 1
    out.put((latencies, failures))


def drive(port: int, paths: list[str], seconds: float, concurrency: int, rate: float | None = None) -> dict:
    queue = mp.Queue()
    procs = [mp.Process(target=client, args=(port, paths, seconds, rate / concurrency if rate else None, queue))
             for _ in range(concurrency)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = np.concatenate([np.asarray(r[0]) for r in results]) * 1000
    return {"requests_per_second": round(len(latencies) / seconds),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p99_ms": round(float(np.percentile(latencies, 99)), 2), "failures": sum(r[1] for r in results)}


def serve(argv: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz" if "lookup_server.app" in " ".join(argv) else "/hello")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not come up; is there a live snapshot? run `make demo` first")


def endpoints(config) -> dict[str, list[str]]:
    root = Path(config.paths.snapshots)
    name = store.current(root)
    if name is None:
        raise SystemExit(f"no live snapshot under {root}: run `make demo` (or `recs snapshot build --publish`) first")
    snapshot = Snapshot(root / name)
    users = [k.decode() for k, _ in zip(snapshot.families["user_recs"].keys(), range(200))]
    items = [k.decode() for k, _ in zip(snapshot.families["fbt"].keys(), range(200))]
    snapshot.close()
    return {
        "home": [f"/v1/users/{u}/recommendations?k=20" for u in users],
        "home+overlay": [f"/v1/users/{u}/recommendations?k=20&viewed={i}&cart={j}"
                         for u, i, j in zip(users, items, items[1:] + items[:1])],
        "similar": [f"/v1/items/{i}/similar?k=20" for i in items],
        "bought-together": [f"/v1/items/{i}/bought-together?k=10" for i in items],
        "cart": [f"/v1/cart/bought-together?items={i},{j},{m}&k=10" for i, j, m in zip(items, items[1:], items[2:])],
        "unknown user (fallback)": ["/v1/users/new-visitor/recommendations?k=20"],
    }


def with_sessions(port: int, homes: list[str], items: list[str]) -> list[str]:
    """Home URLs that each present a session (a token from POST /v1/sessions with two viewed items posted):
    the session store is read on every request."""
    urls = []
    for home, item_url in zip(homes, items):
        user = home.split("/")[3]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/v1/sessions", json.dumps({"user_id": user}), {"Content-Type": "application/json"})
        token = json.loads(conn.getresponse().read())["session"]
        item = item_url.split("/")[3]
        events = [{"type": "view", "item_id": item}, {"type": "add_to_cart", "item_id": item}]
        conn.request("POST", f"/v1/sessions/{token}/events", json.dumps({"events": events}),
                     {"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
        urls.append(f"{home}&session={token}")
    return urls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lookup_server.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args(argv)

    config = load_config(env=args.env, overrides={
        "serve.impressions_dir": "/tmp/recs-bench-impressions",
        "serve.session.sqlite_path": "/tmp/recs-bench-sessions.sqlite3"})
    paths = endpoints(config)
    argv_app, env = gunicorn_command(config, args.port)
    report = {"workers": config.serve.workers, "concurrency": args.concurrency, "seconds": args.seconds,
              "endpoints": {}}
    proc = serve(argv_app, env, args.port)
    try:
        paths["home+session"] = with_sessions(args.port, paths["home"][:50], paths["similar"])
        for name, urls in paths.items():
            report["endpoints"][name] = drive(args.port, urls, args.seconds, args.concurrency)
        peak = report["endpoints"]["home"]["requests_per_second"]
        report["home_at_half_peak"] = {"rate": peak // 2, **drive(args.port, paths["home"], args.seconds,
                                                                  args.concurrency, rate=peak / 2)}
    finally:
        proc.terminate()
        proc.wait()
    conf = Path(__file__).with_name("gunicorn_conf.py")
    hello = serve([sys.executable, "-m", "gunicorn", "-c", str(conf), "lookup_server.hello:app"], env, args.port)
    try:
        report["bare_flask_hello"] = drive(args.port, ["/hello"], args.seconds, args.concurrency)
    finally:
        hello.terminate()
        hello.wait()
    report["home_over_bare_flask"] = round(report["endpoints"]["home"]["requests_per_second"]
                                           / report["bare_flask_hello"]["requests_per_second"], 2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
