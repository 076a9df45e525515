"""The fake OpenAI Realtime server, driven by a plain websockets client, so tests that lean
on it know it keeps to the protocol."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fakes import realtime_support as rs
from tests.fakes.openai_realtime import FakeRealtime

pytestmark = pytest.mark.timeout(30)

AUTH = {"Authorization": "Bearer test-key"}
PCMU = {"type": "audio/pcmu"}


def ga_session(fmt: dict[str, Any], turn_detection: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "realtime",
        "output_modalities": ["audio"],
        "instructions": "Be brief.",
        "audio": {
            "input": {"format": fmt, "turn_detection": turn_detection},
            "output": {"format": fmt, "voice": "marin"},
        },
    }


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtime]:
    server = FakeRealtime()
    await server.start()
    yield server
    await server.stop()


async def open_ws(fake: FakeRealtime, **headers: str) -> ClientConnection:
    return await connect(f"{fake.url}?model=gpt-realtime", additional_headers={**AUTH, **headers})


async def send(ws: ClientConnection, kind: str, **fields: Any) -> None:
    await ws.send(json.dumps({"type": kind, **fields}))


async def until(ws: ClientConnection, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read events up to the first of `kind`; return it and everything read."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while True:
            seen.append(json.loads(await ws.recv()))
            if seen[-1]["type"] == kind:
                return seen[-1], seen


async def configured(fake: FakeRealtime, session: dict[str, Any]) -> ClientConnection:
    ws = await open_ws(fake)
    await until(ws, "session.created")
    await send(ws, "session.update", session=session)
    await until(ws, "session.updated")
    return ws


async def test_handshake_needs_key_and_model(fake: FakeRealtime) -> None:
    with pytest.raises(InvalidStatus) as bad_key:
        await connect(f"{fake.url}?model=m", additional_headers={"Authorization": "Bearer nope"})
    assert bad_key.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as no_model:
        await connect(fake.url, additional_headers=AUTH)
    assert no_model.value.response.status_code == 400
    assert [r["status"] for r in fake.rejected] == [401, 400]
    assert fake.sessions == []


async def test_beta_header_is_refused(fake: FakeRealtime) -> None:
    ws = await open_ws(fake, **{"OpenAI-Beta": "realtime=v1"})
    first = json.loads(await ws.recv())
    assert first["type"] == "error" and first["error"]["code"] == "beta_api_shape_disabled"
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 4000


async def test_session_update_takes_ga_shape_and_refuses_beta_fields(fake: FakeRealtime) -> None:
    ws = await open_ws(fake)
    created, _ = await until(ws, "session.created")
    assert created["session"]["type"] == "realtime"
    assert created["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    await send(ws, "session.update", session=ga_session(PCMU, None))
    updated, _ = await until(ws, "session.updated")
    assert updated["session"]["audio"]["input"] == {
        "format": PCMU, "transcription": None, "noise_reduction": None, "turn_detection": None
    }  # fmt: skip
    beta = {"type": "realtime", "voice": "alloy", "input_audio_format": "g711_ulaw"}
    await send(ws, "session.update", event_id="evt_beta", session=beta)
    err, _ = await until(ws, "error")
    assert err["error"] == {
        "type": "invalid_request_error", "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.voice'.", "param": "session.voice",
        "event_id": "evt_beta",
    }  # fmt: skip
    bad_rate = ga_session({"type": "audio/pcm", "rate": 16000}, None)
    await send(ws, "session.update", session=bad_rate)
    err, _ = await until(ws, "error")
    assert err["error"]["param"] == "session.audio.input.format.rate"
    session = await fake.session()
    assert session.model == "gpt-realtime" and session.authorization == "Bearer test-key"
    assert session.session_config["audio"]["output"]["format"] == PCMU
    await ws.close()


async def test_reply_streams_pcmu_faster_than_real_time_and_truncates(fake: FakeRealtime) -> None:
    ws = await configured(fake, ga_session(PCMU, None))
    await send(ws, "response.create", response={"instructions": "Greet the caller."})
    done, seen = await until(ws, "response.done")
    kinds = [e["type"] for e in seen]
    head = ["response.created", "rate_limits.updated", "response.output_item.added"]
    assert kinds[:5] == [*head, "conversation.item.added", "response.content_part.added"]
    tail = ["response.output_audio.done", "response.output_audio_transcript.done"]
    tail += ["response.content_part.done", "response.output_item.done", "conversation.item.done"]
    assert kinds[-6:] == [*tail, "response.done"]
    assert "response.output_audio_transcript.delta" in kinds
    assert all(e["event_id"].startswith("event_") for e in seen)
    deltas = [e for e in seen if e["type"] == "response.output_audio.delta"]
    item_id = deltas[0]["item_id"]
    assert {
        (d["response_id"], d["item_id"], d["output_index"], d["content_index"]) for d in deltas
    } == {(done["response"]["id"], item_id, 0, 0)}
    assert sum(len(base64.b64decode(d["delta"])) for d in deltas) == 3000 * 8  # 8 kHz μ-law
    assert done["response"]["status"] == "completed"
    assert done["response"]["output"][0]["content"][0]["type"] == "output_audio"

    await send(
        ws, "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=5000
    )
    err, _ = await until(ws, "error")
    assert err["error"]["code"] == "invalid_value"
    assert err["error"]["message"] == "Audio content of 3000ms is already shorter than 5000ms"
    await send(
        ws, "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=1200
    )
    truncated, _ = await until(ws, "conversation.item.truncated")
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 1200)
    session = fake.sessions[0]
    assert session.items[item_id]["audio_sent_ms"] == 3000
    assert session.items[item_id]["truncated_at_ms"] == 1200
    assert [t["audio_end_ms"] for t in session.truncations] == [1200]
    assert session.responses[0].params == {"instructions": "Greet the caller."}
    await ws.close()


async def test_cancel_and_collisions(fake: FakeRealtime) -> None:
    fake.speed = 1.0  # real time, so the reply is still going when the client acts
    ws = await configured(fake, ga_session(PCMU, None))
    await send(ws, "response.create")
    await until(ws, "response.output_audio.delta")
    await send(ws, "response.create", event_id="evt_second")
    err, _ = await until(ws, "error")
    assert err["error"]["code"] == "conversation_already_has_active_response"
    assert err["error"]["event_id"] == "evt_second"
    await send(ws, "response.cancel")
    done, seen = await until(ws, "response.done")
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert "response.output_item.done" in [e["type"] for e in seen]
    await send(ws, "response.cancel")
    err, _ = await until(ws, "error")
    assert err["error"]["code"] == "response_cancel_not_active"
    session = fake.sessions[0]
    assert session.cancels == 1 and session.responses[0].status == "cancelled"
    assert 0 < session.responses[0].output[0]["audio_sent_ms"] < 3000
    await ws.close()


async def test_server_vad_barges_in_and_answers_the_turn(fake: FakeRealtime) -> None:
    fake.speed = 1.0
    ws = await configured(fake, ga_session(PCMU, {"type": "server_vad"}))
    await send(ws, "response.create")
    await until(ws, "response.output_audio.delta")
    silence, speech = b"\xff" * 8 * 400, rs.encode("audio/pcmu", rs.tone_pcm24k(300, dbfs=-10))
    for chunk in (silence, speech, b"\xff" * 8 * 600):
        for i in range(0, len(chunk), 160):  # 20 ms frames, as a phone call sends them
            await send(
                ws, "input_audio_buffer.append", audio=base64.b64encode(chunk[i : i + 160]).decode()
            )
    started, _ = await until(ws, "input_audio_buffer.speech_started")
    assert started["audio_start_ms"] == 400 - 300  # reaches back by prefix_padding_ms
    done, _ = await until(ws, "response.done")
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    stopped, _ = await until(ws, "input_audio_buffer.speech_stopped")
    assert stopped["audio_end_ms"] == 400 + 300 + 500 and stopped["item_id"] == started["item_id"]
    committed, _ = await until(ws, "input_audio_buffer.committed")
    added, _ = await until(ws, "conversation.item.added")
    assert added["item"]["role"] == "user" and added["item"]["id"] == committed["item_id"]
    assert added["item"]["content"][0]["type"] == "input_audio"
    await until(ws, "response.created")  # create_response: the server answers the turn itself
    session = fake.sessions[0]
    assert session.input_ms == pytest.approx(1300)
    assert session.interruptions == 1
    assert [r.trigger for r in session.responses] == ["client", "turn_detection"]
    await ws.close()


async def test_tool_call_round_trip(fake: FakeRealtime) -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    ws = await configured(fake, {**ga_session(PCMU, None), "tools": [tool]})
    fake.next_tool_call = ("get_weather", '{"city":"Paris"}')
    await send(ws, "response.create")
    args, seen = await until(ws, "response.function_call_arguments.done")
    assert (args["name"], args["arguments"]) == ("get_weather", '{"city":"Paris"}')
    deltas = [e["delta"] for e in seen if e["type"] == "response.function_call_arguments.delta"]
    assert "".join(deltas) == '{"city":"Paris"}'
    done, _ = await until(ws, "response.done")
    assert done["response"]["output"][0]["type"] == "function_call"
    output = {"type": "function_call_output", "call_id": args["call_id"], "output": '{"temp":18}'}
    await send(ws, "conversation.item.create", item=output)
    added, _ = await until(ws, "conversation.item.added")
    assert added["item"]["call_id"] == args["call_id"]
    assert fake.sessions[0].function_outputs[0]["output"] == '{"temp":18}'
    await send(ws, "response.create")
    done, _ = await until(ws, "response.done")
    assert done["response"]["output"][0]["type"] == "message"  # next_tool_call was consumed
    await ws.close()


async def test_bad_client_input_gets_errors_and_the_session_survives(fake: FakeRealtime) -> None:
    ws = await configured(fake, ga_session(PCMU, None))
    await ws.send("not json")
    await send(ws, "output_audio_buffer.clear")  # WebRTC/SIP only: unknown over a WebSocket
    await send(ws, "input_audio_buffer.append", audio="***")
    await ws.send(json.dumps({"event_id": "x"}))
    await send(
        ws, "conversation.item.truncate", item_id="item_nope", content_index=0, audio_end_ms=0
    )
    await send(ws, "conversation.item.delete", item_id="item_nope")
    codes = [(await until(ws, "error"))[0]["error"]["code"] for _ in range(6)]
    assert codes == [
        "invalid_json", "invalid_value", "invalid_value", "invalid_event",
        "item_truncate_invalid_item_id", "item_delete_invalid_item_id",
    ]  # fmt: skip
    await send(ws, "session.update", session=ga_session(PCMU, None))
    await until(ws, "session.updated")
    assert len(fake.sessions[0].errors_sent) == 6
    await ws.close()


async def test_drop_after_deltas_aborts_once(fake: FakeRealtime) -> None:
    fake.drop_after_deltas = 2
    ws = await configured(fake, ga_session(PCMU, None))
    await send(ws, "response.create")
    deltas = 0
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(5):
            while True:
                deltas += json.loads(await ws.recv())["type"] == "response.output_audio.delta"
    assert deltas == 2 and ws.close_code == 1006
    assert fake.drop_after_deltas is None
    again = await configured(fake, ga_session(PCMU, None))
    await send(again, "response.create")
    done, _ = await until(again, "response.done")
    assert done["response"]["status"] == "completed"
    await again.close()


async def test_garbage_after_deltas_then_carries_on(fake: FakeRealtime) -> None:
    fake.garbage_after_deltas = 1
    ws = await configured(fake, ga_session({"type": "audio/pcm", "rate": 24000}, None))
    await send(ws, "response.create")
    frames: list[Any] = []
    async with asyncio.timeout(5):
        while not frames or frames[-1] != "response.done":
            raw = await ws.recv()
            try:
                frames.append(json.loads(raw)["type"])
            except ValueError:
                frames.append(raw)
    first = frames.index("response.output_audio.delta")
    assert frames[first + 1 : first + 4] == [
        "this is not JSON {", "response.fake_unknown_event", "response.output_audio.delta",
    ]  # fmt: skip
    sent = fake.sessions[0].server_events
    bad = [e for e in sent if e["type"] == "response.output_audio.delta" and "item_id" not in e]
    assert len(bad) == 1
    item = next(iter(fake.sessions[0].items.values()))
    assert item["audio_sent_ms"] == 3000
    await ws.close()


async def test_reply_audio_is_converted_to_the_output_format() -> None:
    pcm = rs.tone_pcm24k(500, hz=300, dbfs=-6)
    async with FakeRealtime(reply_pcm24k=pcm) as fake:
        ws = await configured(fake, ga_session(PCMU, None))
        await send(ws, "response.create")
        _, seen = await until(ws, "response.done")
        wire = b"".join(
            base64.b64decode(e["delta"]) for e in seen if e["type"].endswith("audio.delta")
        )
        assert len(wire) == 4000
        decoded = rs.decode("audio/pcmu", wire).astype(np.float64)
        reference = np.frombuffer(pcm, dtype="<i2")[::3].astype(np.float64)
        assert np.corrcoef(decoded[100:-100], reference[100:-100])[0, 1] > 0.99
        await ws.close()
