import logging

from gateway import logs


def test_log_records_carry_the_call_id_of_their_context():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    token = logs.call_id_var.set("tw-7")
    try:
        assert logs.CallIdFilter().filter(record)
    finally:
        logs.call_id_var.reset(token)
    assert record.call_id == "tw-7"
