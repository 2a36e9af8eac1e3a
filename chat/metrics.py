"""Prometheus metrics of the message path (served at ``/metrics``)."""

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("nora_connections", "Open websocket connections", ["role"])
QUEUE_LENGTH = Gauge("nora_queue_length", "Conversations waiting for an adviser")
WAIT_SECONDS = Histogram(
    "nora_wait_seconds", "Time from start to assignment", buckets=(1, 5, 15, 30, 60, 120, 180, 300, 600, 1200)
)
MESSAGES = Counter("nora_messages_total", "Messages stored", ["sender"])
# ``labels()`` looks its child up on every call; the message path counts through these instead.
MESSAGES_BY_SENDER = {sender: MESSAGES.labels(sender) for sender in ("visitor", "adviser")}
CONVERSATIONS = Counter("nora_conversations_total", "Conversations started")
BROKER_FAILURES = Counter("nora_broker_failures_total", "Events that could not be published")
ERRORS = Counter("nora_frame_errors_total", "Error frames sent", ["code"])
