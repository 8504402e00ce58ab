"""The snapshot folder: validation, CURRENT, HISTORY, publish, rollback and retention.

{snapshots}/CURRENT   the live snapshot's name, replaced by an atomic rename
{snapshots}/HISTORY   every name ever published, one per line (rollback walks it back)
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from pathlib import Path

from rocksdict import Rdict

from export import codec, manifest, writer
from export.format import (
    COLUMN_FAMILIES,
    CURRENT,
    HISTORY,
    LIST_FAMILIES,
    SnapshotError,
    current,
    open_read_only,
    rocks_options,
)

log = logging.getLogger(__name__)


def history(root: Path) -> list[str]:
    path = Path(root) / HISTORY
    return [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def snapshots(root: Path) -> list[str]:
    """Finished snapshot folders (those with a manifest), oldest name first; unfinished builds are not listed."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / manifest.NAME).is_file())


def verify_files(folder: Path) -> dict:
    """The manifest of a snapshot folder whose files all match it; SnapshotError at the first fault."""
    folder = Path(folder)
    if not (folder / manifest.NAME).is_file():
        raise SnapshotError(f"{folder}: no {manifest.NAME} (an unfinished or foreign folder)")
    try:
        man = manifest.read(folder)
    except json.JSONDecodeError as err:
        raise SnapshotError(f"{folder}/{manifest.NAME} is not JSON: {err}") from None
    if man.get("schema_version") != manifest.SCHEMA_VERSION:
        raise SnapshotError(f"{folder}: schema_version {man.get('schema_version')} is not "
                            f"{manifest.SCHEMA_VERSION}")
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if manifest.is_data_file(p)}
    for rel, expected in man["files"].items():
        path = folder / rel
        if not path.is_file():
            raise SnapshotError(f"{folder}: {rel} is listed in the manifest but missing")
        if path.stat().st_size != expected["bytes"] or manifest.sha256_of(path) != expected["sha256"]:
            raise SnapshotError(f"{folder}: {rel} does not match its sha256 in the manifest (corrupt or changed)")
    extra = sorted(on_disk - set(man["files"]))
    if extra:
        raise SnapshotError(f"{folder}: files not in the manifest: {extra[:5]}")
    return man


def validate(folder: Path, sample: int = 1000, seed: int = 0) -> dict:
    """Check a snapshot (files, column families, counts, a sample of values); return its manifest,
    or raise SnapshotError at the first fault."""
    folder = Path(folder)
    man = verify_files(folder)
    families = set(Rdict.list_cf(str(folder / "db"), rocks_options(create=False)))
    missing = [cf for cf in COLUMN_FAMILIES if cf not in families]
    if missing:
        raise SnapshotError(f"{folder}: column families missing: {missing}")
    db = open_read_only(folder, families - {"default"})
    try:
        _check_families(db, man, folder, sample, random.Random(seed))
    finally:
        db.close()
    return man


def _check_families(db, man: dict, folder: Path, sample: int, rng: random.Random) -> None:
    items = db.get_column_family("item_meta")
    for cf in COLUMN_FAMILIES:
        family = db.get_column_family(cf)
        keys = list(family.keys())
        if len(keys) != man["counts"].get(cf):
            raise SnapshotError(f"{folder}: {cf} holds {len(keys)} keys, the manifest says {man['counts'].get(cf)}")
        for key in rng.sample(keys, min(sample, len(keys))):
            value = family[key]
            try:
                if cf not in LIST_FAMILIES:
                    codec.decode_meta(value)
                    continue
                entries = codec.decode_list(value)
            except codec.CodecError as err:
                raise SnapshotError(f"{folder}: {cf}[{key!r}] does not decode: {err}") from None
            ids = [e.item_id for e in entries]
            if len(set(ids)) != len(ids):
                raise SnapshotError(f"{folder}: {cf}[{key!r}] lists an item twice")
            if any(a.score < b.score for a, b in zip(entries, entries[1:])):
                raise SnapshotError(f"{folder}: {cf}[{key!r}] is not sorted by score")
            unknown = [i for i in ids if items.get(i.encode()) is None]
            if unknown:
                raise SnapshotError(f"{folder}: {cf}[{key!r}] lists items not in the catalog: {unknown[:3]}")


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def publish(root: Path, name: str, keep: int, sample: int = 1000) -> dict:
    """Validate <root>/<name>, point CURRENT at it (atomic rename), record it in HISTORY, apply retention."""
    root = Path(root)
    man = validate(root / name, sample)
    _write_atomically(root / CURRENT, name + "\n")
    with (root / HISTORY).open("a") as handle:
        handle.write(name + "\n")
    removed = apply_retention(root, keep)
    log.info("published %s (removed %s)", name, removed)
    return {"live": name, "counts": man["counts"], "removed": removed}


def rollback(root: Path, sample: int = 1000) -> dict:
    """Point CURRENT back at the newest earlier published snapshot that still exists and validates."""
    root = Path(root)
    live = current(root)
    if live is None:
        raise SnapshotError(f"{root}: nothing is published, nothing to roll back")
    seen = set()
    for name in reversed(history(root)):
        if name == live or name in seen:
            seen.add(name)
            continue
        seen.add(name)
        try:
            validate(root / name, sample)
        except SnapshotError as err:
            log.warning("rollback skips %s: %s", name, err)
            continue
        _write_atomically(root / CURRENT, name + "\n")
        with (root / HISTORY).open("a") as handle:
            handle.write(name + "\n")
        return {"live": name, "was": live}
    raise SnapshotError(f"{root}: no earlier published snapshot is left to roll back to (live: {live})")


def apply_retention(root: Path, keep: int) -> list[str]:
    """Remove the oldest finished snapshots beyond `keep`, never the live one or the one published before it."""
    root = Path(root)
    published = history(root)
    protected = {current(root)}
    earlier = [n for n in reversed(published) if n != current(root)]
    if earlier:
        protected.add(earlier[0])
    names = snapshots(root)
    removable = [n for n in names if n not in protected]
    excess = max(0, len(names) - keep)
    removed = removable[:excess]
    for name in removed:
        shutil.rmtree(root / name)
    writer.remove_stale_builds(root)
    return removed

