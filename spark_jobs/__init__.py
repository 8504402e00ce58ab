"""Spark jobs: one module per nightly job (a pure transform(...) over DataFrames and a thin main()), the chain
that runs them (steps, chain), and the offline pipeline (spark_jobs/offline/) that composes models/."""
