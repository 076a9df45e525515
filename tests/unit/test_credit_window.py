import pytest

from gateway.flow.credit import CreditWindow


def test_sending_is_allowed_only_within_the_window():
    window = CreditWindow(limit_ms=100)
    for _ in range(5):
        assert window.can_send(20)
        window.sent(20)
    assert not window.can_send(20)
    with pytest.raises(OverflowError):
        window.sent(20)
    assert window.in_flight_ms == 100 and window.available_ms == 0


def test_returned_credit_reopens_the_window():
    window = CreditWindow(limit_ms=100)
    window.sent(100)
    assert window.returned(40) == 40
    assert window.available_ms == 40 and window.can_send(40) and not window.can_send(60)


def test_credit_returned_twice_never_goes_below_zero_and_is_counted():
    window = CreditWindow(limit_ms=100)
    window.sent(60)
    assert window.returned(60) == 60
    assert window.returned(60) == 0
    assert window.in_flight_ms == 0
    assert window.excess_returned_ms == 60


def test_reset_drops_everything_in_flight():
    window = CreditWindow(limit_ms=100)
    window.sent(80)
    assert window.reset() == 80
    assert window.in_flight_ms == 0 and window.peak_in_flight_ms == 80


def test_nonsense_limits_and_returns_are_refused():
    with pytest.raises(ValueError):
        CreditWindow(0)
    with pytest.raises(ValueError):
        CreditWindow(100).returned(-1)
