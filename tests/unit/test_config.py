import pytest
from pydantic import ValidationError

from gateway.runtime.config import Settings, load_settings


def test_file_then_environment_then_flags(tmp_path, monkeypatch):
    config = tmp_path / "sluice.toml"
    config.write_text('port = 9001\ngreeting = "From the file"\ntwilio_window_ms = 600\n')
    monkeypatch.setenv("SLUICE_GREETING", "From the environment")
    settings = load_settings(config, port=9002)
    assert settings.port == 9002
    assert settings.greeting == "From the environment"
    assert settings.twilio_window_ms == 600


def test_unknown_or_out_of_range_settings_are_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("windw_ms = 600\n")
    with pytest.raises(ValidationError):
        load_settings(bad)
    with pytest.raises(ValidationError):
        load_settings(None, twilio_window_ms=50)


def test_carriers_names_each_package_and_refuses_others() -> None:
    from gateway.observe.metrics import TRANSPORTS
    from gateway.runtime.config import CARRIERS
    from transports.packages import carriers, installed

    assert tuple(p.name for p in carriers()) == CARRIERS
    assert set(CARRIERS) <= TRANSPORTS
    assert Settings().enabled_carriers == ["twilio"]
    assert Settings(carriers="all").enabled_carriers is None
    assert [p.name for p in installed(Settings(carriers="telnyx, plivo").enabled_carriers)] == [
        "telnyx", "plivo", "websocket", "webrtc"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown carriers nope"):
        Settings(carriers="telnyx,nope")


def test_a_relay_agent_needs_its_socket_and_well_formed_headers() -> None:
    with pytest.raises(ValidationError, match="agent_relay_url"):
        Settings(agent="relay")
    with pytest.raises(ValidationError, match="agent_relay_url"):
        Settings(agent="relay", agent_relay_url="http://not-a-socket")
    with pytest.raises(ValidationError, match="JSON object of strings"):
        Settings(agent="relay", agent_relay_url="ws://a/ws", agent_relay_headers="[1]")
    ok = Settings(
        agent="relay", agent_relay_url="wss://a/ws", agent_relay_headers='{"Authorization": "B"}'
    )
    assert ok.relay_headers == {"Authorization": "B"}
