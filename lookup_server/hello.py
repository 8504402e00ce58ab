"""A bare Flask "hello" app: the benchmark's baseline under the same gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"hello": "world"}
