"""Files replaced whole (`assistant.files`): a failed write leaves the old file and no temporary behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.files import replace_bytes, replace_file, replace_text


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    replace_text(target, "old")

    def fail(partial: Path) -> None:
        partial.write_text("half", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_file(target, fail)
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_durable_and_prefixed_writes_land_under_the_target_name(tmp_path: Path) -> None:
    replace_text(tmp_path / "CURRENT", '{"current": "g2"}', durable=True)
    replace_bytes(tmp_path / "vectors.npz", b"\x00\x01", prefix=".partial-")
    assert (tmp_path / "CURRENT").read_text(encoding="utf-8") == '{"current": "g2"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "vectors.npz"]
