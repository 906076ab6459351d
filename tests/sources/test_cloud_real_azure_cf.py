"""Azure Activity Log and Cloudflare audit readers on the shapes of real published records.

The fixtures are ours; each reproduces the shape (field names, nesting, types, time
formats) of a record the product itself wrote, found in a public repository.
"""

from __future__ import annotations

from tests.conftest import FIXTURES, load, rows

AZ = FIXTURES / "azure_activity"
CF = FIXTURES / "cloudflare_audit"


def _skipped(s: object) -> dict[str, int]:
    con = s.con  # type: ignore[attr-defined]
    return dict(con.execute("SELECT label, count FROM ingest_skipped").fetchall())


def test_azure_app_service_resource_logs_are_skipped_not_audit_rows() -> None:
    # App Service / Functions diagnostic logs (AppServiceConsoleLogs, AppServiceHTTPLogs,
    # FunctionAppLogs) share the {"records": [...]} envelope and the Microsoft.Web
    # provider (operationName Microsoft.Web/sites/log, .../functions/log): they are the
    # app's own output, not control-plane calls, and were stored as cloud_audit rows.
    s = load(AZ / "resource_logs" / "PT1H.json")
    got = rows(
        s,
        "SELECT event_action, event_outcome, actor_principal, client_app, source_ip, "
        "cloud_account_id, target_name, destination_domain, log_record, "
        "strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%f') AS ts FROM cloud_audit",
    )
    assert got == [
        {
            "event_action": "MICROSOFT.WEB/SITES/RESTART/ACTION",
            "event_outcome": "success",
            "actor_principal": "ops@contoso.example",
            "client_app": "Azure portal",
            "source_ip": "203.0.113.77",
            "cloud_account_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "target_name": "orders-api",
            "destination_domain": "orders-api.azurewebsites.net",
            "log_record": 4,
            "ts": "2026-11-04T07:17:44.205193",
        }
    ]
    assert _skipped(s) == {
        "azure:AppServiceConsoleLogs": 1,
        "azure:AppServiceHTTPLogs": 1,
        "azure:FunctionAppLogs": 1,
    }
    assert rows(s, "SELECT count(*) AS n FROM ingest_issues") == [{"n": 0}]


def test_cloudflare_api_pages_one_per_line_are_all_read() -> None:
    # API responses appended one per line (a paging client): the head takes the file for
    # NDJSON; each line's records must be read, and an empty last page adds none. Before,
    # each page was read as one record with no action (all Workers records lost).
    s = load(CF / "api_pages_ndjson" / "audit_pages.ndjson")
    got = rows(
        s,
        "SELECT event_id, event_action, event_outcome, action_normalized, target_name, "
        "cloud_account_id, actor_principal, source_ip, user_agent_original, error_code, "
        "log_record, strftime(timestamp, '%Y-%m-%dT%H:%M:%S') AS ts "
        "FROM cloud_audit ORDER BY log_record",
    )
    assert got == [
        {
            "event_id": "01JB7Q3ZK2M4N6P8R0S2T4V6X8",
            "event_action": "update",
            "event_outcome": "success",
            "action_normalized": "function.update_code",
            "target_name": "orders-edge",
            "cloud_account_id": "7c4a1e0b9d8f4e3a2b1c0d9e8f7a6b5c",
            "actor_principal": "ci@orders.example",
            "source_ip": "192.0.2.44",
            "user_agent_original": "wrangler/3.90.0",
            "error_code": None,
            "log_record": 1,
            "ts": "2026-11-05T10:02:11",
        },
        {
            "event_id": "01JB7W0000000000000000000Z",
            "event_action": "delete",
            "event_outcome": "failure",
            "action_normalized": "function.delete",
            "target_name": "legacy-edge",
            "cloud_account_id": "7c4a1e0b9d8f4e3a2b1c0d9e8f7a6b5c",
            "actor_principal": "ci@orders.example",
            "source_ip": "192.0.2.44",
            "user_agent_original": "curl/8.5.0",
            "error_code": "403",
            "log_record": 3,
            "ts": "2026-11-05T11:30:00",
        },
    ]
    assert _skipped(s) == {"cloudflare:members": 1}
    assert rows(s, "SELECT count(*) AS n FROM ingest_issues") == [{"n": 0}]


def test_cloudflare_empty_api_page_after_ndjson_records_is_named() -> None:
    # NDJSON of API records closed by the empty last response page (as Elastic's httpjson
    # input records it): the page is not a Workers record; it is counted under its own
    # label rather than as a record with no resource type.
    s = load(CF / "api_records_then_empty_page" / "audit_logs.ndjson")
    got = rows(
        s,
        "SELECT event_action, action_normalized, target_name, cloud_account_id, log_line "
        "FROM cloud_audit",
    )
    assert got == [
        {
            "event_action": "script_update",
            "action_normalized": "function.update_code",
            "target_name": "orders-edge",
            "cloud_account_id": "7c4a1e0b9d8f4e3a2b1c0d9e8f7a6b5c",
            "log_line": 1,
        }
    ]
    assert _skipped(s) == {"cloudflare:account": 1, "cloudflare:(API response page)": 1}
