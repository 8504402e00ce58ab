"""Spark jobs: one module per job, each a pure transform(...) over DataFrames and a thin main()."""
