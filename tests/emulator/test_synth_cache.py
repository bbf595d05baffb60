"""The on-disk synthesis cache a test session's processes share (emulator.stack)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import stack


def test_a_synthesis_is_keyed_by_its_context() -> None:
    assert stack.synth_key('{"a": 1}') == stack.synth_key('{"a": 1}')
    assert stack.synth_key('{"a": 1}') != stack.synth_key("{}")


def test_processes_sharing_the_cache_synthesize_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []

    def build(context_json: str, outdir: str) -> None:
        built.append(context_json)
        (Path(outdir) / "Rollforward.template.json").write_text("{}")

    monkeypatch.setenv(stack.SYNTH_CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(stack, "_build_assembly", build)
    first = stack._synth_assembly.__wrapped__('{"k": 1}')
    # Another process (no in-memory cache) reads the same assembly instead of synthesizing.
    second = stack._synth_assembly.__wrapped__('{"k": 1}')
    assert first == second == tmp_path / stack.synth_key('{"k": 1}')
    assert built == ['{"k": 1}']
    assert (first / "Rollforward.template.json").read_text() == "{}"


def test_a_failed_synthesis_leaves_nothing_to_reuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(context_json: str, outdir: str) -> None:
        (Path(outdir) / "partial").write_text("")
        raise RuntimeError("jsii failed")

    monkeypatch.setenv(stack.SYNTH_CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(stack, "_build_assembly", fail)
    with pytest.raises(RuntimeError):
        stack._synth_assembly.__wrapped__("{}")
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []
