"""Prometheus metrics of one server (its own registry, so two apps in one process, as
in the tests, never share counters)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Latency buckets from 0.5 ms to 10 s: a tiny CNN answers in under a millisecond, a
# long completion takes seconds.
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128)


class ServeMetrics:
    """Requests by model/version/status, latency (queue, compute, total), batch sizes
    and models loaded."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("model", "version")
        self.requests = Counter(
            "ember_requests", "Inference requests", (*labels, "status"), registry=self.registry
        )
        self.total = Histogram(
            "ember_request_seconds",
            "Request latency",
            labels,
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.queue = Histogram(
            "ember_queue_seconds",
            "Time a batch's oldest request waited",
            labels,
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.compute = Histogram(
            "ember_compute_seconds",
            "Time a batch computed",
            labels,
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.batch = Histogram(
            "ember_batch_size",
            "Rows per batch run",
            labels,
            buckets=_BATCH,
            registry=self.registry,
        )
        self.loaded = Gauge("ember_models_loaded", "Model versions ready", registry=self.registry)

    def request(self, model: str, version: str, status: int, seconds: float) -> None:
        """One finished inference request."""
        self.requests.labels(model, version, str(status)).inc()
        self.total.labels(model, version).observe(seconds)

    def observe(self, event: str, **values: object) -> None:
        """The core's observer hook: ``batch`` events (size, queue_s, compute_s, and the
        model/version when the repository adds them); other events are ignored."""
        if event != "batch":
            return
        labels = (str(values.get("model", "")), str(values.get("version", "")))
        self.batch.labels(*labels).observe(float(values.get("size", 0)))
        self.queue.labels(*labels).observe(float(values.get("queue_s", 0.0)))
        self.compute.labels(*labels).observe(float(values.get("compute_s", 0.0)))

    def render(self, models_loaded: int) -> bytes:
        """The text exposition, with the models-loaded gauge read now."""
        self.loaded.set(models_loaded)
        return generate_latest(self.registry)
