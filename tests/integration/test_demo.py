import asyncio
from pathlib import Path

import pytest

from relaybox.cli import main
from relaybox.demo.run import run_demo, summary

pytestmark = pytest.mark.integration


def test_the_demo_delivers_or_dead_letters_every_record_exactly_once(tmp_path: Path) -> None:
    report = asyncio.run(run_demo(tmp_path, records=600, batch_size=50, say=lambda _: None))
    assert report.ok
    assert report.delivered + report.dead == 600
    assert report.dead > 0
    assert report.retried > 0
    assert report.duplicates == 0
    assert "NOTHING LOST" in summary(report)


def test_the_demo_command_exits_zero_and_prints_the_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dir", str(tmp_path), "--records", "300", "--batch-size", "40"]) == 0
    out = capsys.readouterr().out
    assert "nothing lost" in out
    assert "NOTHING LOST" in out


def test_the_demo_command_rejects_a_non_positive_record_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--records", "0"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
