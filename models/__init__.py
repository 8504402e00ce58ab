"""Models: offline metrics, ALS, ANN retrieval, EASE, content features (numpy/faiss where one node suffices)."""
