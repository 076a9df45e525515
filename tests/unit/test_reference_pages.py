"""The reference pages are generated from the code and checked like a lockfile:
a setting, metric or flag added without regenerating them fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from gateway import reference
from gateway.observe.metrics import GatewayMetrics
from gateway.runtime.config import Settings

pytestmark = pytest.mark.timeout(60)


def test_the_generated_pages_are_up_to_date():
    assert reference.stale() == [], "run: python -m gateway.reference"


def test_the_settings_page_lists_every_field_with_flag_and_environment_variable():
    page = (reference.DOCS / "settings.md").read_text()
    for name in Settings.model_fields:
        flag, env = "--" + name.replace("_", "-"), "SLUICE_" + name.upper()
        assert f"`{name}`<br>`{flag}`<br>`{env}`" in page


def test_a_field_added_to_a_copy_of_the_model_makes_the_check_fail(tmp_path: Path):
    for name, render in reference.PAGES.items():
        (tmp_path / name).write_text(render())
    assert reference.stale(tmp_path) == []

    class Grown(Settings):
        twilio_new_knob_ms: int = Field(5, description="a setting nobody documented yet")

    pages = {**reference.PAGES, "settings.md": lambda: reference.settings_page(Grown)}
    assert reference.stale(tmp_path, pages) == ["settings.md"]


def test_the_metric_catalogue_is_the_registry():
    metrics = GatewayMetrics()
    registered = {family.name for family in metrics.registry.collect()}
    catalogued = {doc.name for doc in metrics.catalogue}
    assert catalogued == registered
    page = (reference.DOCS / "metrics.md").read_text()
    for name in registered:
        assert f"`{name}`" in page
