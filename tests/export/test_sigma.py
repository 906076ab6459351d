"""The Sigma export passes pySigma's parser and its offline validators."""

from __future__ import annotations

import re

import pytest
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.validators.core import validators

from relayhunt.export import Rendered

# These two download MITRE ATT&CK / D3FEND data at first use: no network in the tests.
# The ATT&CK tag format is checked below instead.
NETWORK_VALIDATORS = {"attacktag", "d3_fendtag"}


def _sigma_files(rendered: Rendered) -> list[tuple[str, str]]:
    return [(f.path, f.text) for f in rendered.files if f.target == "sigma"]


def test_sigma_files_exist(rendered: Rendered) -> None:
    paths = [p for p, _ in _sigma_files(rendered)]
    assert len(paths) == 9
    assert all(p.endswith(".yml") for p in paths)


@pytest.mark.parametrize("validator", sorted(set(validators) - NETWORK_VALIDATORS))
def test_pysigma_validators(rendered: Rendered, validator: str) -> None:
    for path, text in _sigma_files(rendered):
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
        collection.resolve_rule_references()
        check = validators[validator]()
        issues = [i for rule in collection.rules for i in check.validate(rule)]
        issues += list(check.finalize())
        assert not issues, f"{path}: {validator}: {issues}"


def test_no_parse_errors_and_references_resolve(rendered: Rendered) -> None:
    kinds: dict[str, int] = {}
    for path, text in _sigma_files(rendered):
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
        collection.resolve_rule_references()
        for rule in collection.rules:
            assert not rule.errors, f"{path}: {rule.errors}"
            kinds[type(rule).__name__] = kinds.get(type(rule).__name__, 0) + 1
            if isinstance(rule, SigmaCorrelationRule):
                assert all(isinstance(r.rule, SigmaRule) for r in rule.rules)
            for tag in rule.tags:
                if tag.namespace == "attack":
                    assert re.fullmatch(r"t\d{4}(\.\d{3})?", tag.name), tag
    assert kinds == {"SigmaRule": 18, "SigmaCorrelationRule": 4}


def test_dns_rule_explains_reverse_dns(rendered: Rendered) -> None:
    text = dict(_sigma_files(rendered))["sigma/rh_sl_001_serverless_egress.yml"]
    collection = SigmaCollection.from_yaml(text)
    dns, net = collection.rules
    assert isinstance(dns, SigmaRule) and isinstance(net, SigmaRule)
    assert dns.logsource.category == "dns_query"
    assert "reverse (PTR)" in (dns.description or "")
    assert net.level is not None and net.level.name == "LOW"
