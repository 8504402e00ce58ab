"""gunicorn settings of the lookup server; `recs serve` passes serve.host, serve.port, serve.workers,
serve.threads and serve.timeout_seconds as the same RECS_SERVE__* variables that configure them."""

import os
import shutil
import tempfile

bind = f'{os.environ.get("RECS_SERVE__HOST", "127.0.0.1")}:{os.environ.get("RECS_SERVE__PORT", "8000")}'
workers = int(os.environ.get("RECS_SERVE__WORKERS", "2"))
worker_class = "lookup_server.worker.JsonErrorsWorker"     # gthread: slow clients hold a thread, not a worker
threads = int(os.environ.get("RECS_SERVE__THREADS", "4"))
timeout = int(os.environ.get("RECS_SERVE__TIMEOUT_SECONDS", "30"))
graceful_timeout = 10
keepalive = 5
max_requests = 100_000          # recycle workers now and then; jitter keeps them from restarting together
max_requests_jitter = 10_000
accesslog = None
errorlog = "-"
loglevel = "info"
control_socket_disable = True   # gunicorn 27 would otherwise create ~/.gunicorn/


def on_starting(server):
    """Prometheus multiprocess mode: a fresh folder for the workers' metric files, set before they fork."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="recs-metrics-")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
