"""The committed generated code matches protos/ (run `make proto` after editing a .proto)."""

from __future__ import annotations

from pathlib import Path

from common.protogen import ROOT, generate


def test_generated_code_is_current(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert fresh, "no .proto files found"
    stale = []
    for path in fresh:
        rel = path.relative_to(tmp_path)
        committed = ROOT / rel
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(rel))
    assert not stale, f"generated code is stale, run `make proto`: {stale}"
