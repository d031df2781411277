"""docs/reference.md is generated from the CLI and the config models; the committed file must match."""

from __future__ import annotations

from pathlib import Path

from featurestream.cli.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_committed_reference_is_up_to_date() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/reference.md is stale: run `make docs` (python -m featurestream.cli.reference docs/reference.md)"
    )


def test_reference_covers_every_command_and_config_key() -> None:
    text = render_reference()
    for heading in ("### `featurestream export feast`", "### `featurestream init`", "### `featurestream jobs submit`"):
        assert heading in text
    for key in ("`serving.port`", "`redis.url`", "`stack.flink.task_slots`", "`ondemand.path`"):
        assert key in text
    assert "`FEATURESTREAM_REDIS_URL`" in text
