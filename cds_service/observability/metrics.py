"""Prometheus metrics, one registry per app (``app.state.metrics``), served at ``GET /metrics``.

    cds_http_requests_total{route, service_id, status}            requests answered
    cds_http_request_duration_seconds{route, service_id, status}  latency histogram
    cds_cards_total{rule_id, indicator, mode}                     cards per rule; mode="active" were
                                                                  sent, mode="shadow" evaluated only
    cds_prefetch_unavailable_total{key, reason}                   prefetch keys the rules went without
                                                                  (wholly, or some results read:
                                                                  next-page-failed, search-error,
                                                                  entry-failed, incomplete)
    cds_reassurance_withheld_total{rule_id, reason}               reassuring cards withheld because record
                                                                  entries could not be read or recognised:
                                                                  unrecognised-text, unreadable,
                                                                  unresolved-medication
    cds_fhir_fallback_requests_total{operation, resource_type, outcome}
                                                                  FHIR fallback calls: outcome "ok" or
                                                                  the failure reason (timeout, server-error,
                                                                  unauthorized, malformed, wrong-type,
                                                                  search-error, refused, deadline …)
    cds_rule_errors_total{rule_id}                                cards dropped because their rule raised
                                                                  or their card could not be rendered
    cds_imaging_orders_rated_total{rating}                        spine imaging orders by appropriateness
                                                                  rating; "unrated" could not be rated
    cds_cards_repeat_held_total{rule_id}                          cards not sent again at order-sign
    cds_content_reloads_total{result}                             content reloads: success | failure
    cds_content_info{version}                                     the content version serving
    cds_ready                                                     1 when /readyz would answer 200

Labels hold only bounded values: known service ids, rule ids, resource types and reason codes,
never patient data. The rule id label is ``rule_id`` everywhere, as in cards and feedback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from cds_service.content.referral import finding_indicator
from cds_service.protocol.services import SERVICES
from cds_service.pama import UNRATED

if TYPE_CHECKING:
    from cds_service.content.loader import ContentSet
    from cds_service.content.store import ContentStore
    from cds_service.content.outcome import Outcome

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREFETCH_KEYS = frozenset(q.key for s in SERVICES for q in s.prefetch)
RESOURCE_TYPES = frozenset(q.template.split("/", 1)[0].split("?", 1)[0] for s in SERVICES for q in s.prefetch) | {"Bundle"}
OTHER = "other"


def bounded(value: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``"other"``: label values stay few and safe."""
    return value if value in allowed else OTHER


class ContentCollector(Collector):
    """Reads the content store at scrape time: reload counts and the version serving."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        reloads = CounterMetricFamily("cds_content_reloads", "Content reloads by result.", labels=["result"])
        reloads.add_metric(["success"], self.store.reloads)
        reloads.add_metric(["failure"], self.store.failures)
        yield reloads
        info = InfoMetricFamily("cds_content", "The card content version serving.")
        info.add_metric([], {"version": self.store.current.version})
        yield info


class Children:
    """``metric.labels(*values)``, remembered: prometheus_client locks and checks the label values on
    every ``labels`` call, and a labelled child, once made, lives as long as its metric. Label
    values are bounded (see the module doc), so this cache is too."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


class Metrics:
    """The service's metrics in their own registry (so each app, and each test, starts at zero)."""

    def __init__(self, content: ContentStore | None = None, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        request_labels = ["route", "service_id", "status"]
        self.requests = Counter("cds_http_requests", "HTTP requests answered.", request_labels, registry=r)
        self.latency = Histogram(
            "cds_http_request_duration_seconds", "Time to answer an HTTP request.", request_labels,
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.cards = Counter(
            "cds_cards", "Cards per rule; mode=shadow were evaluated, not sent.", ["rule_id", "indicator", "mode"], registry=r
        )
        self.prefetch_unavailable = Counter(
            "cds_prefetch_unavailable", "Prefetch keys the rules went without, by reason.", ["key", "reason"], registry=r
        )
        self.withheld = Counter(
            "cds_reassurance_withheld", "Reassuring cards withheld: record entries not read or recognised, by reason.",
            ["rule_id", "reason"], registry=r,
        )  # fmt: skip
        self.fhir_requests = Counter(
            "cds_fhir_fallback_requests", "FHIR fallback calls by outcome: ok or the failure reason.",
            ["operation", "resource_type", "outcome"], registry=r,
        )  # fmt: skip
        self.rule_errors = Counter(
            "cds_rule_errors", "Cards dropped: the rule raised or its card could not be rendered.", ["rule_id"], registry=r
        )
        self.imaging_ratings = Counter(
            "cds_imaging_orders_rated", "Spine imaging orders evaluated, by appropriateness rating (unrated: could not be rated).",
            ["rating"], registry=r,
        )  # fmt: skip
        self.repeats_held = Counter(
            "cds_cards_repeat_held", "Cards not sent again at order-sign: shown before for the unchanged order.", ["rule_id"], registry=r
        )
        self.ready = Gauge("cds_ready", "1 when the service is ready to answer hooks.", registry=r)
        self._requests, self._latency = Children(self.requests), Children(self.latency)
        self._cards, self._unavailable = Children(self.cards), Children(self.prefetch_unavailable)
        self._fhir_requests, self._withheld = Children(self.fhir_requests), Children(self.withheld)
        self._rule_errors = Children(self.rule_errors)
        self._ratings, self._repeats = Children(self.imaging_ratings), Children(self.repeats_held)
        if content is not None:
            r.register(ContentCollector(content))
        if process:
            ProcessCollector(registry=r)

    def observe_request(self, route: str, service_id: str, status: int, seconds: float) -> None:
        labels = (route, service_id, str(status))  # service_id: a known id, "unknown" or "" (bounded by the caller)
        self._requests(*labels).inc()
        self._latency(*labels).observe(seconds)

    def observe_outcome(self, outcome: Outcome, content: ContentSet) -> None:
        """Cards sent and shadow findings per rule, reassuring cards withheld, and prefetch keys that were unavailable."""
        for finding, card in outcome.shown:
            self._cards(finding.rule_id, card.indicator, "active").inc()
        for finding in outcome.shadow:
            self._cards(finding.rule_id, finding_indicator(content, finding), "shadow").inc()
        for rule_id, reason in outcome.withheld:
            self._withheld(rule_id, reason).inc()
        for rule_id in outcome.failed:  # registered rule ids only: bounded
            self._rule_errors(rule_id).inc()
        for rating in outcome.ratings:  # the three rating codes and "unrated": bounded
            self._ratings(rating.value or UNRATED).inc()
        for rule_id in outcome.repeats:
            self._repeats(rule_id).inc()
        self.observe_unavailable(outcome.unavailable)

    def observe_unavailable(self, unavailable: Mapping[str, str]) -> None:
        for key, reason in unavailable.items():
            self._unavailable(bounded(key, PREFETCH_KEYS), reason).inc()

    def observe_fhir(self, operation: str, resource_type: str, outcome: str) -> None:
        self._fhir_requests(operation, bounded(resource_type, RESOURCE_TYPES), outcome).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def serve_metrics(metrics: Metrics, host: str, port: int | None) -> Callable[[], None]:
    """Serve ``metrics`` at ``http://host:port/metrics`` from a thread when ``port`` is set (off the
    service port: nothing a caller of the service can read); returns the function that stops it."""
    if port is None:
        return lambda: None
    try:
        server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:  # another worker of this server already serves it
        log.warning("metrics port %s not served by this process: %s", port, exc.strerror)
        return lambda: None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)

    return stop
