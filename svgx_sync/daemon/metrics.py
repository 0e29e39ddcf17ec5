"""The daemon's Prometheus instruments (``/metrics``) and the seed's running totals."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


PROPAGATION_BUCKETS_S = tuple(
    ms / 1000 for ms in (0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 100, 250, 1000)
)
"""Fine around the 16 ms frame budget, so that a p99 can be read off the histogram."""

STAGE_BUCKETS_S = tuple(
    ms / 1000 for ms in (0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 25, 100)
)
"""Fine below a millisecond: one stage of an operation's way out (an fsync, a fan-out)."""


class Metrics:
    """Counters of one daemon, in a registry of its own."""

    def __init__(self, connections: Callable[[], int], rooms: Callable[[], int]) -> None:
        self.total_operations = 0
        self.propagation_sum = 0.0
        self.propagation_count = 0
        self.registry = CollectorRegistry()
        self.ops = Counter(
            "svgx_operations", "Operations accepted and broadcast", registry=self.registry
        )
        self.conflicts = Counter("svgx_conflicts", "Conflicts detected", registry=self.registry)
        self.errors = Counter(
            "svgx_client_errors", "Error messages sent to clients", registry=self.registry
        )
        self.fsyncs = Counter(
            "svgx_journal_fsyncs", "Journal group commits (one fsync each)", registry=self.registry
        )
        self.batch = Histogram(
            "svgx_batch_operations",
            "Operations per flushed batch",
            buckets=(1, 2, 5, 10, 20, 50, 100, 500),
            registry=self.registry,
        )
        self.latency = Histogram(
            "svgx_server_propagation_seconds",
            "From receiving an operation to broadcasting it",
            buckets=PROPAGATION_BUCKETS_S,
            registry=self.registry,
        )
        self.journal_sync = Histogram(
            "svgx_journal_sync_seconds",
            "One group commit's journal fdatasync (with its write when on the loop)",
            buckets=STAGE_BUCKETS_S,
            registry=self.registry,
        )
        self.fan_out = Histogram(
            "svgx_fan_out_seconds",
            "Writing one delivered batch (and the acks in it) to every client of a room",
            buckets=STAGE_BUCKETS_S,
            registry=self.registry,
        )
        self.window_waits = Counter(
            "svgx_window_waits",
            "Times a connection was not read with max_unanswered_ops of its operations unanswered",
            registry=self.registry,
        )
        self.unanswered_peak = 0
        """The most operations of one connection seen accepted and not yet answered."""
        Gauge(
            "svgx_unanswered_operations_peak",
            "The most operations of one connection accepted and not yet answered at once",
            registry=self.registry,
        ).set_function(lambda: self.unanswered_peak)
        self.connections = Gauge("svgx_connections", "Open connections", registry=self.registry)
        self.rooms = Gauge("svgx_live_documents", "Live document branches", registry=self.registry)
        self.connections.set_function(connections)
        self.rooms.set_function(rooms)

    def delivered(self, operations: int, received: Sequence[float]) -> None:
        """A batch of ``operations`` was broadcast; ``received`` are the
        ``time.perf_counter()`` readings of when each client operation in it arrived."""
        done = time.perf_counter()
        for at in received:
            self.propagation_sum += done - at
            self.latency.observe(done - at)
        self.propagation_count += len(received)
        self.total_operations += operations
        self.ops.inc(operations)
        self.batch.observe(operations)

    def average_propagation_ms(self) -> float:
        if not self.propagation_count:
            return 0.0
        return 1000 * self.propagation_sum / self.propagation_count

    def exposition(self) -> str:
        """The text ``/metrics`` answers."""
        return generate_latest(self.registry).decode()
