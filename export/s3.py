"""Push snapshots to S3 and pull them back (boto3; any S3 endpoint: AWS, MinIO, moto).

Layout: s3://<bucket>/<prefix>/<name>/<file>, MANIFEST.json uploaded last, so a reader that
waits for the manifest never sees half a snapshot. Each object carries its sha256 as
metadata; a push skips files already uploaded whole (same size and sha256), which resumes
an interrupted push, and checks every object after upload. Large files go up in parts
(s3.multipart_threshold_mb, s3.multipart_chunk_mb). Credentials come from the standard
AWS environment (variables, profiles, instance roles), never from the configuration.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path, PurePosixPath

from export import manifest, store
from export.format import BUILDING_PREFIX, is_name

log = logging.getLogger(__name__)
MB = 1024 * 1024


class ExportError(RuntimeError):
    """A push or pull cannot complete; the message says why."""


def client(settings):
    import boto3

    if not settings.bucket:
        raise ExportError("no bucket: set s3.bucket (RECS_S3__BUCKET) and, off AWS, s3.endpoint_url")
    return boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region)


def transfer_config(settings):
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=settings.multipart_threshold_mb * MB,
                          multipart_chunksize=settings.multipart_chunk_mb * MB)


def _key(settings, name: str, rel: str) -> str:
    return f"{settings.prefix.strip('/')}/{name}/{rel}"


def _remote(s3, bucket: str, key: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _matches(head: dict | None, expected: dict) -> bool:
    return bool(head) and head["ContentLength"] == expected["bytes"] \
        and head.get("Metadata", {}).get("sha256") == expected["sha256"]


def push(folder: Path, settings) -> dict:
    """Upload a finished snapshot folder; returns counts of uploaded and already-present files."""
    folder = Path(folder)
    man = store.verify_files(folder)
    s3, config = client(settings), transfer_config(settings)
    uploaded = skipped = sent = 0
    for rel, expected in sorted(man["files"].items()):
        key = _key(settings, folder.name, rel)
        if _matches(_remote(s3, settings.bucket, key), expected):
            skipped += 1
            continue
        s3.upload_file(str(folder / rel), settings.bucket, key, Config=config,
                       ExtraArgs={"Metadata": {"sha256": expected["sha256"]}})
        if not _matches(_remote(s3, settings.bucket, key), expected):
            raise ExportError(f"s3://{settings.bucket}/{key} does not match the local file after upload")
        uploaded += 1
        sent += expected["bytes"]
    s3.upload_file(str(folder / manifest.NAME), settings.bucket, _key(settings, folder.name, manifest.NAME))
    log.info("pushed %s: %d uploaded, %d already there", folder.name, uploaded, skipped)
    return {"name": folder.name, "uploaded": uploaded, "already_there": skipped, "bytes_sent": sent,
            "url": f"s3://{settings.bucket}/{_key(settings, folder.name, '')}"}


def push_local(folder: Path, root: Path, prefix: str) -> dict:
    """Copy a finished snapshot to <root>/<prefix>/<name>/ (files first, MANIFEST.json last): S3's layout
    on a local disk, for machines without a bucket. Files already there whole are skipped."""
    folder = Path(folder)
    man = store.verify_files(folder)
    target = Path(root) / prefix.strip("/") / folder.name
    copied = skipped = 0
    for rel, expected in sorted(man["files"].items()):
        dest = target / rel
        if dest.is_file() and manifest.sha256_of(dest) == expected["sha256"]:
            skipped += 1
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / rel, dest)
        copied += 1
    shutil.copyfile(folder / manifest.NAME, target / manifest.NAME)
    return {"name": folder.name, "uploaded": copied, "already_there": skipped, "url": f"file://{target}/"}


def export(folder: Path, settings) -> dict:
    """The nightly export: push to s3.bucket when one is set, else copy to s3.local_dir, else skip."""
    if settings.bucket:
        return push(folder, settings)
    if settings.local_dir:
        return push_local(folder, Path(settings.local_dir), settings.prefix)
    log.warning("no s3.bucket and no s3.local_dir: %s is not exported", Path(folder).name)
    return {"name": Path(folder).name, "skipped": "no s3.bucket and no s3.local_dir configured"}


def complete_snapshots(settings) -> list[str]:
    """Names under the prefix whose MANIFEST.json is uploaded, sorted."""
    s3 = client(settings)
    prefix = settings.prefix.strip("/") + "/"
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=prefix, Delimiter="/"):
        for entry in page.get("CommonPrefixes", []):
            name = entry["Prefix"][len(prefix):].strip("/")
            if _remote(s3, settings.bucket, _key(settings, name, manifest.NAME)):
                names.append(name)
    return sorted(n for n in names if is_name(n))


def checked_files(man: dict, work: Path, name: str) -> list[tuple[str, dict]]:
    """The manifest's (relative path, {sha256, bytes}) pairs, every one a plain relative path that stays inside
    the download folder; ExportError before anything is downloaded otherwise (a hostile or broken manifest)."""
    files = man.get("files") if isinstance(man, dict) else None
    if not isinstance(files, dict):
        raise ExportError(f"the {manifest.NAME} of {name} has no file table: nothing was downloaded")
    inside = work.resolve()
    for rel, expected in files.items():
        path = PurePosixPath(rel)
        if (not rel or path.is_absolute() or "\\" in rel or any(part in ("", ".", "..") for part in rel.split("/"))
                or not (inside / rel).resolve().is_relative_to(inside) or not isinstance(expected, dict)
                or not isinstance(expected.get("sha256"), str)):
            raise ExportError(f"the {manifest.NAME} of {name} lists {rel[:120]!r}, which is not a file inside the "
                              "snapshot: refused, nothing was downloaded")
    return sorted(files.items())


def pull(root: Path, settings, name: str | None = None) -> dict:
    """Download a complete snapshot into root/<name>/, verifying every file's sha256."""
    root = Path(root)
    if name is not None and not is_name(name):
        raise ExportError(f"{name[:120]!r} is not a snapshot name (letters, digits, '_', '.', '-'; no '..')")
    s3, config = client(settings), transfer_config(settings)
    if name is None:
        names = complete_snapshots(settings)
        if not names:
            raise ExportError(f"no complete snapshot under s3://{settings.bucket}/{settings.prefix}/")
        name = names[-1]
    if _remote(s3, settings.bucket, _key(settings, name, manifest.NAME)) is None:
        raise ExportError(f"s3://{settings.bucket}/{_key(settings, name, '')} has no {manifest.NAME}: "
                          "the push is incomplete (or the name is wrong)")
    if (root / name / manifest.NAME).is_file():
        return {"name": name, "downloaded": 0, "note": "already here"}
    work = root / f"{BUILDING_PREFIX}pull-{name}-{os.getpid()}"
    work.mkdir(parents=True)
    try:
        s3.download_file(settings.bucket, _key(settings, name, manifest.NAME), str(work / manifest.NAME),
                         Config=config)
        try:
            man = json.loads((work / manifest.NAME).read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ExportError(f"the {manifest.NAME} of {name} is not JSON ({err}): nothing was downloaded") from None
        files = checked_files(man, work, name)
        for rel, expected in files:
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(settings.bucket, _key(settings, name, rel), str(target), Config=config)
            if manifest.sha256_of(target) != expected["sha256"]:
                raise ExportError(f"{rel} of {name} downloaded with a wrong sha256; nothing was activated")
        work.rename(root / name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"name": name, "downloaded": len(files), "bytes": sum(f.get("bytes", 0) for _, f in files)}
