"""The command line explains itself: help with no command, a version, and every
setting as a flag with its description and default."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway import __version__
from gateway.cli import build_parser
from gateway.runtime import extras
from gateway.runtime.config import Settings, load_settings
from gateway.runtime.options import group_of, options

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*argv: str, hide: str = "") -> subprocess.CompletedProcess[str]:
    """`sluice ARGV` in a fresh interpreter; `hide` makes one module uninstallable."""
    blocker = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        f"    def find_spec(self, name, path, target=None):\n"
        f"        if name.split('.')[0] == {hide!r}: raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        if hide
        else ""
    )
    code = blocker + f"from gateway.cli import main\nmain({list(argv)!r})\n"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=50, cwd=ROOT
    )


def test_sluice_alone_prints_help_and_succeeds():
    result = run_cli()
    assert result.returncode == 0
    assert "usage: sluice" in result.stdout
    assert "serve" in result.stdout and "compare" in result.stdout


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"sluice {__version__}"


def test_every_setting_is_a_flag_with_a_description_and_default():
    serve_help = " ".join(run_cli("serve", "--help").stdout.split())
    for option in options():
        assert option.description, f"{option.name} has no description"
        shown = f"{option.flag} " if option.kind is not bool else f"{option.flag}, --no-"
        assert shown in serve_help, option.name
    assert serve_help.count("[default: ") == len(Settings.model_fields)
    assert "SLUICE_<NAME>" in serve_help and "TOML" in serve_help
    assert "prefer SLUICE_OPENAI_API_KEY" in serve_help


def test_every_setting_has_a_group():
    for option in options():
        group_of(option.name)


def test_a_flag_sets_what_the_environment_and_file_set(tmp_path, monkeypatch):
    """The same setting three ways: file, then environment, then flag."""
    config = tmp_path / "sluice.toml"
    config.write_text("max_calls = 5\ninterrupt_provisional = true\n")
    assert tomllib.loads(config.read_text())["max_calls"] == 5
    monkeypatch.setenv("SLUICE_MAX_CALLS", "7")
    argv = ["serve", "--max-calls", "9", "--no-interrupt-provisional"]
    args = vars(build_parser().parse_args(argv))
    overrides = {k: v for k, v in args.items() if k not in ("command", "config")}
    settings = load_settings(config, **overrides)
    assert settings.max_calls == 9
    assert settings.interrupt_provisional is False
    assert load_settings(config).max_calls == 7


def test_compare_help_lists_the_values_each_choice_takes():
    pytest.importorskip("matplotlib")
    result = run_cli("compare", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "from: twilio, websocket, webrtc" in text
    assert "wifi-bad" in text and "satellite" in text
    assert "from: interrupt, burst, many, backchannel" in text
    assert "from: controlled, naive, no-pause" in text


def test_pocketsphinx_without_its_extra_is_refused_at_startup_naming_the_extra():
    result = run_cli("serve", "--stt", "pocketsphinx", "--port", "0", hide="pocketsphinx")
    assert result.returncode == 2
    assert "pip install 'sluice-gateway[pocketsphinx]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_building_services_names_the_missing_extra(monkeypatch):
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(extras.MissingExtra, match=r"sluice-gateway\[piper\]"):
        extras.require(Settings(tts="piper"))
    assert extras.missing(Settings()) == []


def test_pocketsphinx_is_not_a_core_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("pocketsphinx") for d in project["dependencies"])
    extra = project["optional-dependencies"]["pocketsphinx"]
    assert any(d.startswith("pocketsphinx") for d in extra)
