"""Logging set-up: JSON lines with the extras, the text format, quiet HTTP loggers and redaction."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from cds_service.observability.logging import JsonFormatter, TextFormatter, configure_logging, logging_config
from cds_service.observability.redact import REDACTED, RedactionFilter, mask, scrub

JWT = "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJodHRwczovL2VociJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger and the named loggers back as they were after a test reconfigures them."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    names = ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access")
    levels = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in names}
    switches = {name: getattr(logging, name) for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")}
    yield
    for name, value in switches.items():
        setattr(logging, name, value)
    for handler in root.handlers:
        if handler not in saved[1]:
            handler.close()
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, (level, propagate) in levels.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).propagate = propagate


def emit(formatter: logging.Formatter, msg: str, *args: object, **extra: object) -> str:
    """One record through the redaction filter and ``formatter``, as the configured handler does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactionFilter())
    logger = logging.getLogger(f"test.logging.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.info(msg, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_lines_carry_the_extras() -> None:
    """A record logged with ``extra=`` is one JSON object holding the message, level, logger and extras."""
    line = emit(JsonFormatter(), "hook evaluated", service_id="neck-pain-order-select", rule_ids=["a", "b"], duration_ms=3.5)
    record = orjson.loads(line)
    assert record["message"] == "hook evaluated" and record["level"] == "INFO"
    assert record["service_id"] == "neck-pain-order-select"
    assert record["rule_ids"] == ["a", "b"] and record["duration_ms"] == 3.5
    assert record["time"].endswith("+00:00") and record["logger"].startswith("test.logging")


def test_text_format_appends_extras_as_key_value() -> None:
    """The readable format ends the line with the extras as key=value pairs."""
    line = emit(TextFormatter(), "request", status=200, route="/healthz")
    assert "request status=200 route=/healthz" in line


def test_sensitive_extra_keys_are_redacted() -> None:
    """Extras named like secrets or patient attributes are replaced, at any depth, before output."""
    line = emit(
        JsonFormatter(),
        "oops",
        authorization="Bearer abc",
        access_token="tok-123",
        birthDate="1970-01-01",
        detail={"name": [{"family": "Quagmire"}], "identifier": "MRN-1", "kept": "yes"},
    )
    record = orjson.loads(line)
    assert record["authorization"] == REDACTED and record["access_token"] == REDACTED
    assert record["birthDate"] == REDACTED
    assert record["detail"] == {"name": REDACTED, "identifier": REDACTED, "kept": "yes"}
    assert "tok-123" not in line and "Quagmire" not in line and "1970-01-01" not in line


def test_strings_are_masked_in_message_args_and_values() -> None:
    """JWTs, bearer credentials and URL query strings are masked wherever they appear."""
    line = emit(
        JsonFormatter(),
        "called %s with %s",
        "https://fhir.example.org/Condition?patient=pat-42&code=x",
        f"Bearer {JWT}",
        note=f"token was {JWT}",
    )
    assert JWT not in line and "pat-42" not in line
    record = orjson.loads(line)
    assert record["message"] == f"called https://fhir.example.org/Condition?{REDACTED} with Bearer {REDACTED}"
    assert record["note"] == "token was [jwt]"


def test_mask_handles_token_parameters_and_plain_text() -> None:
    """``access_token=`` style parameters are masked; ordinary text is unchanged."""
    assert mask("access_token=abc123&x=1") == f"access_token={REDACTED}&x=1"
    assert mask("rule imaging-without-red-flags fired") == "rule imaging-without-red-flags fired"


def test_scrub_bounds_depth_and_stringifies_unknown_objects() -> None:
    """Deep structures are cut off and unknown objects become masked strings."""
    deep: object = "x"
    for _ in range(20):
        deep = [deep]
    assert "[...]" in repr(scrub(deep))
    assert scrub({1, 2}) in ([1, 2], [2, 1])
    assert scrub(object()).startswith("<object object")


def test_tracebacks_are_masked() -> None:
    """A logged exception's traceback goes through the same masking as messages."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter())
    logger = logging.getLogger("test.logging.exc")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    record = orjson.loads(stream.getvalue())
    assert "ValueError: bad token [jwt]" in record["exc_info"] and JWT not in stream.getvalue()


def test_configure_logging_installs_one_redacting_handler_and_quiets_httpx(restore_logging: None) -> None:
    """After configuration the root has one filtered handler at the level asked; httpx logs WARNING and up."""
    configure_logging("debug", json=True)
    root = logging.getLogger()
    assert root.level == logging.DEBUG and len(root.handlers) == 1
    assert any(isinstance(f, RedactionFilter) for f in root.handlers[0].filters)
    assert isinstance(root.handlers[0].formatter, JsonFormatter)
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING
    assert logging.getLogger("uvicorn.error").propagate is True


def test_configured_records_skip_what_no_formatter_prints(restore_logging: None) -> None:
    """After set-up, a record carries no caller line, thread or process: nothing prints them, and finding them costs."""
    configure_logging("INFO", json=True)
    captured: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = captured.append  # type: ignore[method-assign]
    logger = logging.getLogger("cds_service.test.switches")
    logger.addHandler(handler)
    try:
        logger.warning("hello")
    finally:
        logger.removeHandler(handler)
    (seen,) = captured
    assert (seen.lineno, seen.thread, seen.process) == (0, None, None)


def test_text_mode_and_unknown_level(restore_logging: None) -> None:
    """``json=False`` selects the text formatter; an unknown level is refused before anything changes."""
    configure_logging("WARNING", json=False)
    assert isinstance(logging.getLogger().handlers[0].formatter, TextFormatter)
    with pytest.raises(ValueError, match="unknown log level"):
        logging_config("LOUD")
