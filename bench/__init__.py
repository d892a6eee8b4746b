"""Benchmarks. ``python -m bench`` (or ``bench/run``): the service against a bare FastAPI floor under
wrk, the FHIR fallback path and cost growth (see bench/README.md). ``bench/load/`` holds the
steady-rate load test (memory growth under a fixed request rate)."""
