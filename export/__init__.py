"""Snapshots: the value codec, the RocksDB builder, the manifest, validation, publish/rollback and S3 export."""
