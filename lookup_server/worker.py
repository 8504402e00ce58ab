"""gunicorn's threaded (gthread) worker, answering its own protocol errors in the API's JSON.

A slow client holds one of serve.threads threads, not the whole worker. gunicorn answers
requests it cannot parse (a bad request line, a URI or headers over its limits, broken chunked
encoding) itself, before the app sees them; this worker makes those 400/414/431 answers the
same JSON shape as the app's errors ({"error", "message"}) instead of gunicorn's HTML page.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps({"error": reason.lower().replace(" ", "_"), "message": mesg or reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin1") + body)


class JsonErrorsWorker(ThreadWorker):
    def init_process(self):
        util.write_error = write_json_error      # gunicorn's workers look it up at call time
        super().init_process()
