"""Models: single-node algorithms (ALS engines, ANN retrieval, EASE, content features, the XGBoost ranker,
re-ranking rules, offline metrics, top-N helpers, cart FBT). They take DataFrames or arrays and never
import a job, the snapshot format or the server (tests/test_layers.py)."""
