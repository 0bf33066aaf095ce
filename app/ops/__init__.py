"""What operators and load balancers see of a running server: /healthz and
/readyz, Prometheus metrics at /metrics, a request id on every request and,
with LOG_FORMAT=json, structured log lines that carry it.

endpoints.init_app puts two WSGI layers around the whole app (the stream fast
paths included), so a seek answered before Flask is timed, counted and logged
like any other request. Nothing is imported here: the services import
app.ops.metrics to count, and that stays light.
"""
