from gateway.observe.metrics import GatewayMetrics


def _series(metrics: GatewayMetrics, name: str) -> set[tuple]:
    found = set()
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                found.add(tuple(sorted(sample.labels.items())))
    return found


def test_a_thousand_distinct_bad_labels_make_one_series():
    metrics = GatewayMetrics()
    for i in range(1000):
        metrics.calls_ended.labels("twilio", f"message of {i} characters").inc()
        metrics.protocol_errors.labels(f"transport{i}", f"kind\n{i}").inc()
    ended = _series(metrics, "sluice_calls_ended_total")
    errors = _series(metrics, "sluice_protocol_errors_total")
    assert ended == {(("reason", "other"), ("transport", "twilio"))}
    assert errors == {(("kind", "other"), ("transport", "other"))}
    metrics.calls_ended.labels("twilio", "caller hung up").inc()
    assert len(_series(metrics, "sluice_calls_ended_total")) == 2
