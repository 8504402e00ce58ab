# Two commands: `make demo` and `make test`. Both create .venv on first use and reuse it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export SPARK_LOCAL_IP := 127.0.0.1
export OPENBLAS_NUM_THREADS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: test-cluster test-airflow-ui spark-cluster prometheus-tools monitoring ab-demo venv demo test test-airflow-dags lint samples clean airflow eval eval-synthetic eval-sparse bench-models bench-snapshot bench-serve bench-chain bench-codegen

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[pipeline,serve,dev]'
	touch $(STAMP)

## demo: ingest both committed samples (synthetic and Online Retail), build interactions, print the report
demo: $(STAMP)
	$(BIN)/recs demo

## test: the whole test suite (real Spark in local mode, real Prometheus and promtool for monitoring/), in
## TEST_WORKERS pytest-xdist processes, a test file to each (each its own Spark session); TEST_WORKERS=0: one process
TEST_WORKERS ?= 2
test: $(STAMP) prometheus-tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# $(call debian-tool,COMMAND,PACKAGE): install a Debian package when its command is missing and we are root; else
# say what to run
define debian-tool
	@command -v $(1) >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's $(2) package ($(1))"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(2) >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(2) >/dev/null; }; \
	else \
		echo "$(1) is missing: run  sudo apt-get install $(2)  (Debian/Ubuntu), or put it on PATH; then make again"; \
		exit 1; \
	fi
endef

## prometheus-tools: Prometheus and promtool from Debian's package (installed when missing and run as root)
prometheus-tools:
	$(call debian-tool,promtool,prometheus)
	$(call debian-tool,prometheus,prometheus)

## monitoring: Prometheus with monitoring/prometheus.yml and rules.yml beside `recs serve` / `make demo` (port 8000):
## UI on http://127.0.0.1:$(PROMETHEUS_PORT) (Alerts tab), data in var/prometheus; Ctrl-C stops it
PROMETHEUS_PORT ?= 9090
monitoring: prometheus-tools
	mkdir -p var/prometheus
	prometheus --config.file=monitoring/prometheus.yml --storage.tsdb.path=var/prometheus \
		--web.listen-address=127.0.0.1:$(PROMETHEUS_PORT)

## airflow: Airflow standalone for the UI on http://127.0.0.1:$(AIRFLOW_PORT) (make airflow AIRFLOW_PORT=8081; SQLite
## in var/airflow, DAG recs_nightly, Spark connection: the master of $RECS_ENV's configuration, local[2] by default and
## the cluster of make spark-cluster with RECS_ENV=standalone, unless AIRFLOW_CONN_SPARK_DEFAULT or RECS_SPARK_MASTER
## is set); prints the admin password; Ctrl-C or SIGTERM stops every Airflow process and every task it started
AIRFLOW_PORT ?= 8080
airflow: $(STAMP)
	$(BIN)/python dags/airflow_local.py --port $(AIRFLOW_PORT)

## test-airflow-dags: opt-in, about 18 minutes (17 min 57 s measured, alone on 2 cores): `airflow dags test
## recs_nightly` twice on each committed sample (every task succeeds, the same snapshot digest and lists both times)
test-airflow-dags: $(STAMP)
	TEST_AIRFLOW_DAGS=1 $(BIN)/python -m pytest -m airflow_full tests/dags

## spark-cluster: a Spark standalone master, 2 workers (1 core, 3g each) and the history server on 127.0.0.1, from
## the pyspark package (UIs: master http://127.0.0.1:8090, history http://127.0.0.1:18080); event logs in
## var/spark-events; Ctrl-C or SIGTERM stops every JVM. Then: recs --env standalone run --date 2026-11-14
spark-cluster: $(STAMP)
	$(BIN)/python -m spark_jobs.cluster_local

## test-cluster: opt-in: the chain on the committed synthetic sample, in local mode and on a Spark standalone cluster
## started for the test (2 workers), gives the same snapshot digest and lists
test-cluster: $(STAMP)
	TEST_CLUSTER=1 $(BIN)/python -m pytest -m cluster tests/spark_jobs/test_cluster.py

## test-airflow-ui: opt-in: in a real browser (Debian's Chromium, driven by Playwright), a run triggered from the Trigger
## form of `make airflow` with its defaults and the sample's date completes on a Spark standalone cluster
test-airflow-ui: $(STAMP)
	$(call debian-tool,chromium,chromium)
	$(BIN)/python -m pip install --quiet -e '.[ui]'
	TEST_AIRFLOW_UI=1 $(BIN)/python -m pytest -s -m airflow_ui tests/dags/test_airflow_ui.py

## ab-demo: two simulated weeks of an A/B test (ranked lists vs trending) through the real lookup server under
## faketime: home pages, clicks and purchases posted to /v1/feedback, logs shipped, experiment_report printed
ab-demo: $(STAMP)
	$(call debian-tool,faketime,faketime)
	$(BIN)/recs ab-demo

## eval: offline evaluation of every source on the complete Online Retail (cutoff 2011-11-09, ../shared/EVALUATION.md)
eval: $(STAMP)
	test -d var/raw/online_retail_full/events || $(BIN)/recs adapt online-retail --out var/raw/online_retail_full
	$(BIN)/recs --env retail_full eval

## eval-synthetic: the same on a generated shop of about 1 million events (conf/synthetic_1m.yaml)
eval-synthetic: $(STAMP)
	test -d var/raw/synthetic_1m/events || $(BIN)/recs generate --out var/raw/synthetic_1m --users 15000 \
		--items 3000 --days 60 --start 2026-09-01 --format parquet
	$(BIN)/recs --env synthetic_1m eval

## eval-sparse: the same on a seeded year-long shop whose users come back every ~7 weeks (conf/synthetic_sparse.yaml)
eval-sparse: $(STAMP)
	test -d var/raw/synthetic_sparse/events || $(BIN)/recs generate --out var/raw/synthetic_sparse --users 8000 \
		--items 1500 --days 365 --start 2025-12-01 --sessions-per-day 0.02 --format parquet
	$(BIN)/recs --env synthetic_sparse eval

## bench-models: implicit vs Spark MLlib ALS, and faiss IVF and HNSW vs exact search (prints ratios)
bench-models: $(STAMP)
	$(BIN)/python -m spark_jobs.bench_models

## bench-chain: the whole nightly chain on generated shops of 1M, 4M and 16M events on the standalone cluster
## (started here when none runs); per-step seconds, peak memory, data_samples/bench_chain/results.json, chain.png
bench-chain: $(STAMP)
	$(BIN)/python -m spark_jobs.bench_chain --env standalone $(if $(SIZES),--sizes $(SIZES))

## bench-codegen: the synthetic sample's chain with the configured code generation (spark.whole_stage_codegen,
## spark.codegen_cache_entries) against Spark's defaults, alternating in fresh processes; per-step seconds, the ratio,
## and whether the ranked lists are the same (about 12 minutes: two runs of each)
bench-codegen: $(STAMP)
	$(BIN)/python -m spark_jobs.bench_codegen $(if $(BENCH_ENV),--env $(BENCH_ENV))

## bench-snapshot: 1M users x 100 items into RocksDB, SST bulk load vs plain puts, size, random reads
bench-snapshot: $(STAMP)
	$(BIN)/python -m export.bench

## bench-serve: load test of every endpoint and of a bare Flask app under the same gunicorn (after make demo)
bench-serve: $(STAMP)
	$(BIN)/python -m lookup_server.bench

lint: $(STAMP)
	$(BIN)/ruff check .

## samples: regenerate the committed samples (deterministic: same seed, same files)
samples: $(STAMP)
	rm -rf data_samples/synthetic data_samples/online_retail
	$(BIN)/recs generate --out data_samples/synthetic --users 3000 --items 500 --days 14 --start 2026-11-01 --bad-share 0.004
	$(BIN)/recs adapt online-retail --out data_samples/online_retail --start 2011-11-14 --end 2011-12-09

clean:
	rm -rf var spark-warehouse metastore_db derby.log
