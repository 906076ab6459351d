"""The EQL export parses under the ``eql`` package (Elasticsearch syntax, sequence runs)."""

from __future__ import annotations

import eql
import pytest

from relayhunt.export import Rendered


def _parse(text: str) -> eql.ast.BaseNode:
    with (
        eql.parser.elasticsearch_syntax,
        eql.parser.allow_runs,
        eql.parser.ignore_missing_functions,
    ):
        return eql.parse_query(text)


def test_every_eql_file_parses(rendered: Rendered) -> None:
    files = [f for f in rendered.files if f.target == "eql"]
    assert len(files) == 11
    for f in files:
        _parse(f.text)


def test_beacon_uses_runs_and_image_key(rendered: Rendered) -> None:
    (beacon,) = [f for f in rendered.files if f.path == "eql/RH-SL-005_beacon.eql"]
    query = _parse(beacon.text)
    assert isinstance(query, eql.ast.PipedQuery)
    seq = query.first
    assert isinstance(seq, eql.ast.Sequence)
    assert len(seq.queries) == 12  # runs=12 expanded by the parser
    body = "\n".join(x for x in beacon.text.splitlines() if not x.startswith("//"))
    assert "by host.id, process.executable" in body and "process.entity_id" not in body


def test_parser_rejects_garbage() -> None:
    with pytest.raises(eql.EqlError):
        _parse('network where dns.question.name : ("a"')
