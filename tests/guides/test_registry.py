"""Every registered rule has a guide, every guide a rule, and the content is complete."""

from __future__ import annotations

from relayhunt.detect import rules
from relayhunt.guides import PLACEHOLDERS, REQUIRED_SIEMS, SIEMS, all_guides, get_guide
from relayhunt.guides.render import placeholders_in


def test_every_rule_has_a_guide_and_no_orphans() -> None:
    rule_ids = {r.id for r in rules()}
    guide_ids = set(all_guides())
    assert rule_ids - guide_ids == set(), "rules without a guide"
    assert guide_ids - rule_ids == set(), "guides without a rule"


def test_get_guide() -> None:
    guide = get_guide("RH-SL-001")
    assert guide is not None and guide.rule_id == "RH-SL-001"
    assert get_guide("RH-NOPE-999") is None


def test_titles_follow_the_registry() -> None:
    guides = all_guides()
    for rule in rules():
        assert guides[rule.id].title == rule.name, rule.id


def test_relayhunt_rules_have_pivots_in_every_siem() -> None:
    guides = all_guides()
    for rule in rules():
        if rule.profile == "compat":
            continue
        guide = guides[rule.id]
        for siem in REQUIRED_SIEMS:
            pivots = guide.pivots.get(siem, [])
            assert pivots, f"{rule.id}: no {siem} pivots"
            for p in pivots:
                assert p.title.strip() and p.query.strip(), (rule.id, siem)
        assert guide.superseded_by is None


def test_compat_guides_point_at_a_relayhunt_rule() -> None:
    by_id = {r.id: r for r in rules()}
    for rule in rules():
        if rule.profile != "compat":
            continue
        guide = all_guides()[rule.id]
        assert guide.superseded_by in by_id, rule.id
        assert by_id[guide.superseded_by].profile == "default"
        assert guide.superseded_by in " ".join([guide.summary, *guide.contain])
        assert guide.pivots, rule.id


def test_every_guide_is_an_actual_playbook() -> None:
    for rid, guide in all_guides().items():
        assert guide.summary and guide.look_first and guide.confirm, rid
        assert guide.dismiss and guide.contain, rid
        for siem in guide.pivots:
            assert siem in SIEMS


def test_placeholders_are_documented_and_used_whole() -> None:
    for rid, guide in all_guides().items():
        for siem, pivots in guide.pivots.items():
            for p in pivots:
                for name in placeholders_in(p.query):
                    assert name in PLACEHOLDERS, (rid, siem, name)
                # A placeholder stands for a whole literal: never inside quotes.
                for quote in ('"', "'"):
                    for name in PLACEHOLDERS:
                        assert f"{quote}{{{name}}}" not in p.query, (rid, siem, name)
                        assert f"{{{name}}}{quote}" not in p.query, (rid, siem, name)


def test_endpoint_guides_contain_the_tenant_not_the_platform() -> None:
    for rid in ("RH-SL-001", "RH-SL-002", "RH-SL-003", "RH-SL-005"):
        text = " ".join(all_guides()[rid].contain)
        assert "tenant hostname" in text and "not the platform" in text, rid


def test_cloud_guides_name_the_real_revocation_commands() -> None:
    text = " ".join(all_guides()["RH-CP-002"].contain)
    for command in (
        "aws lambda delete-function-url-config",
        "aws lambda remove-permission",
        "gcloud functions remove-invoker-policy-binding",
        "--member=allUsers --role=roles/cloudfunctions.invoker",
    ):
        assert command in text
    rotate = " ".join(all_guides()["RH-CP-001"].contain)
    assert "az functionapp function keys delete" in rotate
    assert "az functionapp keys delete" in rotate
