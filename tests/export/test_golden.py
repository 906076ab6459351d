"""LogScale, YARA-L, Sumo Logic and SPL have no offline parser: their exports are pinned as
golden files (reviewed by hand). Regenerate after a deliberate change with
``RELAYHUNT_UPDATE_GOLDEN=1 pytest tests/export/test_golden.py`` and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relayhunt.export import Rendered

GOLDEN = Path(__file__).parent / "golden"
TARGETS = ("logscale", "yaral", "sumo", "spl")


@pytest.mark.parametrize("target", TARGETS)
def test_golden(rendered: Rendered, target: str) -> None:
    files = [f for f in rendered.files if f.target == target]
    assert files
    update = os.environ.get("RELAYHUNT_UPDATE_GOLDEN") == "1"
    expected_names = set()
    for f in files:
        path = GOLDEN / f.path
        expected_names.add(path.name)
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f.text, encoding="utf-8", newline="\n")
        assert path.read_text(encoding="utf-8") == f.text, f"{f.path} differs from golden"
    assert {p.name for p in (GOLDEN / target).iterdir()} == expected_names


@pytest.mark.parametrize("target", TARGETS)
def test_balanced_and_single_line_literals(rendered: Rendered, target: str) -> None:
    """A cheap structural check on top of the goldens: outside comments, brackets balance
    and every double-quoted literal closes on its line."""
    for f in rendered.files:
        if f.target != target:
            continue
        in_block = False
        depth = {"(": 0, "[": 0, "{": 0}
        closing = {")": "(", "]": "[", "}": "{"}
        for line in f.text.splitlines():
            if target == "spl" and line.strip() == "```":
                in_block = not in_block
                continue
            if in_block or line.lstrip().startswith("//"):
                continue
            i, in_str, in_re = 0, False, False
            while i < len(line):
                ch = line[i]
                if ch == "\\" and (in_str or in_re):
                    i += 2
                    continue
                if in_str:
                    in_str = ch != '"'
                elif in_re:
                    in_re = ch != "/"
                elif ch == '"':
                    in_str = True
                elif (
                    ch == "/"
                    and target != "spl"
                    and line[:i].rstrip().endswith(("=", "(", ",", "matches"))
                ):
                    in_re = True
                elif ch in depth:
                    depth[ch] += 1
                elif ch in closing:
                    depth[closing[ch]] -= 1
                i += 1
            assert not in_str and not in_re, f"{f.path}: unterminated literal in {line!r}"
        assert all(v == 0 for v in depth.values()), (f.path, depth)
