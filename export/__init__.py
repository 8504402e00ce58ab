"""Snapshots. The Spark-free format layer (format, codec, manifest, writer, store) that the lookup server
reads with; S3 push/pull (s3); and the Spark writer (builder), which depends on the layer, never the reverse."""
