"""`make bench-chain`: the whole nightly chain on generated shops of growing size, on a real Spark cluster.

For each size of bench_chain.sizes (events), a seeded shop of bench_chain.days days whose users
(events / (days x events_per_user_day)) and items (users x items_per_user) grow with it is generated
once under bench_chain.folder; then `recs run --date <its last day>` runs every step from an empty
lake, on the configured master (`--env standalone`: the standalone cluster of `make spark-cluster`,
started here, and stopped afterwards, when none answers). Measured per step: wall seconds and events
per second; for the run: the peak resident memory of the driver (the recs process and its JVM) and of
each executor JVM (with its Python workers), sampled every bench_chain.sample_seconds.

Results are merged into {results}/results.json (one entry per size, so sizes can be run apart; the
committed ones are the README's) and written again as results.csv and chain.png (seconds per step
against events, log-log); a Markdown table with seconds per million events, and their growth from
the smallest to the largest size, is printed for the README.

    python -m spark_jobs.bench_chain [--env standalone] [--sizes 1000000 4000000]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from conf import Config, load_config
from spark_jobs import cluster_local

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STEP_LINE = re.compile(r"^  (?P<step>[a-z_]+)\s+(?P<seconds>[0-9.]+) s  ")
LOCAL_MASTER = f"spark://127.0.0.1:{cluster_local.MASTER_PORT}"
EXECUTOR = "CoarseGrainedExecutorBackend"
RECS = str(Path(sys.executable).parent / "recs")     # the console script of this environment


def shop_size(events: int, config: Config) -> tuple[int, int]:
    """(users, items) of the shop generated for `events` events."""
    settings = config.bench_chain
    users = max(int(events / (settings.days * settings.events_per_user_day)), 10)
    return users, max(int(users * settings.items_per_user), 10)


def step_seconds(output: str) -> dict[str, float]:
    """Each step's wall seconds from `recs run`'s step lines, in order."""
    found = {}
    for line in output.splitlines():
        match = STEP_LINE.match(line)
        if match:
            found[match["step"]] = float(match["seconds"])
    return found


def growth(results: list[dict]) -> dict[str, float]:
    """Per step and for the whole chain ("chain"): seconds per million events at the largest size over the
    same at the smallest (1.0: linear in events)."""
    ordered = sorted(results, key=lambda r: r["events"])
    if len(ordered) < 2:
        return {}
    small, large = ordered[0], ordered[-1]

    def per_million(result: dict, step: str) -> float:
        seconds = result["chain_seconds"] if step == "chain" else result["steps"].get(step, 0.0)
        return seconds / (result["events"] / 1e6)

    steps = ["chain", *[s for s in large["steps"] if small["steps"].get(s, 0.0) >= 1.0]]
    return {step: round(per_million(large, step) / per_million(small, step), 2) for step in steps}


def markdown(results: list[dict]) -> str:
    """The README table: one row per step, seconds (and seconds per million events) for each size, and the
    growth of seconds per million events from the smallest to the largest size."""
    ordered = sorted(results, key=lambda r: r["events"])
    steps = list(dict.fromkeys(step for r in ordered for step in r["steps"]))
    rise = growth(ordered)
    sizes = [f"{r['events'] / 1e6:g}M events ({r['users']:,} users, {r['items']:,} items)" for r in ordered]
    lines = ["| step | " + " | ".join(sizes) + " | s per M events, largest / smallest |",
             "|---|" + "---:|" * (len(ordered) + 1)]

    def row(name: str, cells: list[str]) -> str:
        return f"| {name} | " + " | ".join(cells) + f" | {f'{rise[name]:.2f}x' if name in rise else ''} |"

    def timed(seconds_of) -> list[str]:
        return [f"{seconds_of(r):.1f} s ({seconds_of(r) / (r['events'] / 1e6):.1f} s/M)" for r in ordered]

    lines += [row(step, timed(lambda r, s=step: r["steps"].get(s, 0.0))) for step in steps]
    lines.append(row("chain", timed(lambda r: r["chain_seconds"])))
    lines.append(row("events per second (chain)", [f"{r['events'] / r['chain_seconds']:,.0f}" for r in ordered]))
    lines.append(row("peak driver memory", [f"{r['driver_peak_mb']:,.0f} MB" for r in ordered]))
    lines.append(row("peak executor memory (largest)", [f"{r['executor_peak_mb']:,.0f} MB" if r["executor_peak_mb"]
                                                        else "in the driver (local mode)" for r in ordered]))
    return "\n".join(lines)


class MemorySampler(threading.Thread):
    """Peak resident memory of a process tree (the driver) and of every executor JVM with its children."""

    def __init__(self, pid: int, every: float):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.driver_peak = self.executor_peak = 0
        self.done = threading.Event()

    @staticmethod
    def tree_rss(process: psutil.Process) -> int:
        total = 0
        for p in [process, *process.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.driver_peak = max(self.driver_peak, self.tree_rss(psutil.Process(self.pid)))
            except psutil.Error:
                pass
            for process in psutil.process_iter(["cmdline"]):
                if EXECUTOR in " ".join(process.info["cmdline"] or []):
                    self.executor_peak = max(self.executor_peak, self.tree_rss(process))
            self.done.wait(self.every)


def recs_run(env: str, overrides: dict, run_date: str) -> list[str]:
    """The command line of `recs --env ENV --set KEY=VALUE ... run --date D`."""
    argv = [RECS, "--env", env]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={value}"]
    return [*argv, "run", "--date", run_date]


def generate(events: int, config: Config, folder: Path) -> Path:
    """The shop's raw folder, generated once (seeded) for `events` events."""
    raw = folder / f"shop-{events}" / "raw"
    if (raw / "events").is_dir():
        return raw
    users, items = shop_size(events, config)
    start = config.generator.start_date
    subprocess.run([RECS, "generate", "--out", str(raw), "--users", str(users),
                    "--items", str(items), "--days", str(config.bench_chain.days), "--start", start.isoformat(),
                    "--format", "parquet"], check=True, cwd=PROJECT_ROOT)
    return raw


def run_chain(env: str, events: int, config: Config, raw: Path, folder: Path) -> dict:
    """`recs run` for the shop's last day from an empty lake; its step seconds and peak memory."""
    users, items = shop_size(events, config)
    base = folder / f"shop-{events}"
    for name in ("lake", "snapshots", "s3", "logs"):
        shutil.rmtree(base / name, ignore_errors=True)
    last = config.generator.start_date + dt.timedelta(days=config.bench_chain.days - 1)
    overrides = {"paths.raw": raw, "paths.lake": base / "lake", "paths.snapshots": base / "snapshots",
                 "paths.logs_raw": base / "logs", "s3.local_dir": base / "s3"}
    argv = recs_run(env, overrides, last.isoformat())
    began = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT)
    sampler = MemorySampler(process.pid, config.bench_chain.sample_seconds)
    sampler.start()
    output = []
    for line in process.stdout:
        output.append(line)
        print(line, end="", flush=True)
    code = process.wait()
    seconds = time.perf_counter() - began
    sampler.done.set()
    sampler.join()
    if code != 0:
        raise RuntimeError(f"the chain failed on the {events:,}-event shop (exit {code}): see the output above")
    steps = step_seconds("".join(output))
    return {"events": events, "users": users, "items": items, "run_date": last.isoformat(), "env": env,
            "master": config.spark.master, "chain_seconds": round(seconds, 1), "steps": steps,
            "events_per_second": round(events / seconds, 1),
            "driver_peak_mb": round(sampler.driver_peak / 2**20, 1),
            "executor_peak_mb": round(sampler.executor_peak / 2**20, 1),
            "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def save(results: list[dict], folder: Path) -> None:
    """results.json, results.csv (one row per size and step) and chain.png."""
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    with open(folder / "results.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["events", "users", "items", "step", "seconds", "events_per_second", "driver_peak_mb",
                         "executor_peak_mb"])
        for r in results:
            for step, seconds in [*r["steps"].items(), ("chain", r["chain_seconds"])]:
                writer.writerow([r["events"], r["users"], r["items"], step, seconds,
                                 round(r["events"] / seconds, 1) if seconds else "", r["driver_peak_mb"],
                                 r["executor_peak_mb"]])
    plot(results, folder / "chain.png")


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(results, key=lambda r: r["events"])
    x = [r["events"] for r in ordered]
    figure, axes = plt.subplots(figsize=(8, 5))
    steps = [s for s in dict.fromkeys(s for r in ordered for s in r["steps"])
             if max(r["steps"].get(s, 0.0) for r in ordered) >= 1.0]
    for step in steps:
        axes.plot(x, [max(r["steps"].get(step, 0.0), 0.1) for r in ordered], marker="o", label=step)
    axes.plot(x, [r["chain_seconds"] for r in ordered], marker="s", color="black", linewidth=2, label="chain")
    axes.set(xscale="log", yscale="log", xlabel="events", ylabel="seconds",
             title=f"Nightly chain per step ({ordered[0]['master']})")
    axes.legend(fontsize=7, ncol=2)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def cluster_needed(config: Config) -> bool:
    """True when the master is this machine's standalone cluster and nothing answers on it."""
    return (config.spark.master == LOCAL_MASTER
            and not cluster_local.wait_for(f"http://127.0.0.1:{cluster_local.MASTER_UI}/json/", 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="standalone", help="configuration environment (default: standalone)")
    parser.add_argument("--sizes", type=int, nargs="+", help="events per shop (default: bench_chain.sizes)")
    args = parser.parse_args(argv)
    config = load_config(env=args.env)
    settings = config.bench_chain
    folder = (PROJECT_ROOT / settings.folder).resolve()
    results_dir = (PROJECT_ROOT / settings.results).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    known = {r["events"]: r for r in json.loads((results_dir / "results.json").read_text())} \
        if (results_dir / "results.json").is_file() else {}
    started = []
    if cluster_needed(config):
        started = cluster_local.start(settings.cluster_workers, 1, settings.worker_memory, PROJECT_ROOT / "var")
        deadline = time.time() + 60
        while cluster_local.alive_workers() < settings.cluster_workers and time.time() < deadline:
            time.sleep(0.5)
    try:
        for events in args.sizes or settings.sizes:
            raw = generate(events, config, folder)
            known[events] = run_chain(args.env, events, config, raw, folder)
            save(sorted(known.values(), key=lambda r: r["events"]), results_dir)
    finally:
        if started:
            cluster_local.stop(started)
    results = sorted(known.values(), key=lambda r: r["events"])
    print(f"\n{markdown(results)}\n\nresults: {results_dir / 'results.json'}, {results_dir / 'results.csv'}, "
          f"plot: {results_dir / 'chain.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
