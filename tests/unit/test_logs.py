import logging

from gateway.observe import logs


def test_log_records_carry_the_call_id_of_their_context():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    token = logs.call_id_var.set("tw-7")
    try:
        assert logs.CallIdFilter().filter(record)
    finally:
        logs.call_id_var.reset(token)
    assert record.call_id == "tw-7"


def test_a_peer_string_with_a_newline_cannot_forge_a_log_line():
    forged = "tw-999\n2026-01-01 CRITICAL gateway.app call=tw-999 FORGED"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "started %s", (forged,), None)
    logs.CallIdFilter().filter(record)
    message = record.getMessage()
    assert "\n" not in message and "\\n2026-01-01 CRITICAL" in message
    assert "\r" not in logs.escape_control("a\rb")
    assert logs.escape_control("\x1b[31m") == "\\x1b[31m"
