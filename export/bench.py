"""Benchmark: a snapshot column family of N users x L items, SST bulk load against plain puts.

    python -m export.bench [--users 1000000 --items-per-user 100]   (or `make bench-snapshot`)

Values are encoded once with export/codec.py (the encoding time is printed on its own),
then written (a) as sorted SST files (rocksdict SstFileWriter, --files of them) ingested
into a fresh database, and (b) with plain puts in WriteBatches of --batch keys into
another. Prints keys per second of each and their ratio, the size on disk of each, and
random reads per second through the codec (get + decode) from the bulk-loaded one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from export import codec
from export.format import ingest_options, rocks_options


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items-per-user", type=int, default=100)
    parser.add_argument("--catalog", type=int, default=50_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    from rocksdict import Rdict, SstFileWriter, WriteBatch

    rng = np.random.default_rng(42)
    scratch = Path(tempfile.mkdtemp(prefix="recs-bench-", dir=args.dir))
    try:
        began = time.perf_counter()
        keys = sorted(f"user-{n:08d}".encode() for n in range(args.users))
        scores = np.sort(rng.random(args.items_per_user, dtype=np.float32))[::-1]
        values = []
        for _ in range(args.users):
            items = rng.choice(args.catalog, args.items_per_user, replace=False)
            values.append(codec.encode_list((f"i{i}", s, "als") for i, s in zip(items, scores)))
        encode_seconds = time.perf_counter() - began

        began = time.perf_counter()
        sst_dir = scratch / "sst"
        sst_dir.mkdir()
        paths, per_file = [], -(-args.users // args.files)
        for f in range(args.files):
            writer = SstFileWriter(options=rocks_options())
            path = str(sst_dir / f"{f:03d}.sst")
            writer.open(path)
            for key, value in zip(keys[f * per_file:(f + 1) * per_file], values[f * per_file:(f + 1) * per_file]):
                writer[key] = value
            writer.finish()
            paths.append(path)
        written = time.perf_counter() - began
        bulk = Rdict(str(scratch / "bulk"), rocks_options())
        bulk.ingest_external_file(paths, ingest_options())
        bulk.close()
        sst_seconds = time.perf_counter() - began
        shutil.rmtree(sst_dir)

        began = time.perf_counter()
        plain = Rdict(str(scratch / "puts"), rocks_options())
        batch = WriteBatch(raw_mode=True)
        for n, (key, value) in enumerate(zip(keys, values), 1):
            batch.put(key, value)
            if n % args.batch == 0:
                plain.write(batch)
                batch = WriteBatch(raw_mode=True)
        plain.write(batch)
        plain.flush()
        plain.close()
        put_files = len(list((scratch / "puts").glob("*.sst")))
        put_seconds = time.perf_counter() - began

        reader = Rdict(str(scratch / "bulk"), rocks_options(False))
        picks = [keys[i] for i in rng.integers(0, len(keys), args.reads)]
        began = time.perf_counter()
        found = sum(len(codec.decode_list(reader[k])) for k in picks)
        read_seconds = time.perf_counter() - began
        reader.close()
        assert found == args.reads * args.items_per_user

        report = {
            "users": args.users, "items_per_user": args.items_per_user,
            "value_bytes_mean": round(sum(map(len, values)) / len(values)),
            "encode_seconds": round(encode_seconds, 1),
            "sst_bulk_load": {"seconds": round(sst_seconds, 1), "of_which_ingest": round(sst_seconds - written, 2),
                              "keys_per_second": round(args.users / sst_seconds),
                              "bytes_on_disk": du(scratch / "bulk")},
            "plain_puts": {"seconds": round(put_seconds, 1), "batch": args.batch,
                           "keys_per_second": round(args.users / put_seconds),
                           "bytes_on_disk": du(scratch / "puts"), "sst_files_after_flush": put_files},
            "sst_over_puts_speed": round(put_seconds / sst_seconds, 2),
            "random_reads": {"reads": args.reads, "reads_per_second": round(args.reads / read_seconds),
                             "note": "get + codec.decode_list of a 100-item list, one Python thread"},
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
