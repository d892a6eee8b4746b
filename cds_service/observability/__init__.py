"""Logging, metrics and readiness.

    logging      configure_logging / logging_config: JSON (or text) lines on stderr, set once by `serve`
    redact       RedactionFilter: secrets and patient data masked in every record (defence in depth)
    middleware   RequestObserver: one log line and the request metrics per HTTP request; annotate()
    metrics      Metrics: the Prometheus registry of one app, served at GET /metrics
    fhir         InstrumentedFhirClient: FHIR fallback calls counted by outcome
    readiness    check_readiness: content loaded, storage reachable (GET /readyz, cds_ready)
"""
