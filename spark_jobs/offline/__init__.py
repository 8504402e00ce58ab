"""The offline pipeline in Spark: temporal views of the events, the candidate sources (one registry),
candidates and features per user, the ranker's training windows, the quality gate and `recs eval`.

It composes the single-node algorithms of models/ with the jobs' transforms; the nightly jobs
(spark_jobs/ranking.py, spark_jobs/quality_gate.py) and `recs eval` call it.
"""
