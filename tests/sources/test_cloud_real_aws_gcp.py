"""CloudTrail and Google Cloud audit log shapes seen in real published samples.

The fixtures are ours (own names, ids and times) and reproduce the shape of records the
products wrote: `gcloud logging read --format=json` output quoted in public write-ups, and
a Cloud Functions (2nd gen) long-running operation's first and last entries.
"""

from __future__ import annotations

from datetime import datetime

from tests.conftest import FIXTURES, load, rows

GCP = FIXTURES / "gcp_audit"


def test_gcloud_json_with_the_timestamp_inside_proto_payload_is_read() -> None:
    # gcloud prints the entry's timestamp inside protoPayload and none at the top level;
    # these entries were rejected as missing_timestamp.
    s = load(GCP / "gcloud_nested_timestamp")
    got = rows(
        s,
        "SELECT log_record, timestamp, event_action, action_normalized, cloud_account_id, "
        "cloud_region, target_name, actor_principal FROM cloud_audit ORDER BY log_record",
    )
    assert got == [
        {
            "log_record": 1,
            "timestamp": datetime(2026, 11, 4, 8, 12, 40, 118204),
            "event_action": "google.cloud.run.v1.Services.DeleteService",
            "action_normalized": "function.delete",
            "cloud_account_id": "tern-lab-4471",
            "cloud_region": "europe-west3",
            "target_name": "ledger-api",
            "actor_principal": "ops.lead@tern.example",
        },
        {
            "log_record": 2,
            "timestamp": datetime(2026, 11, 4, 8, 3, 19, 550731),
            "event_action": "google.cloud.run.v1.Services.ReplaceService",
            "action_normalized": "function.update",
            "cloud_account_id": "tern-lab-4471",
            "cloud_region": "europe-west3",
            "target_name": "ledger-api",
            "actor_principal": "intern.7@tern.example",
        },
        {
            "log_record": 4,
            "timestamp": datetime(2026, 11, 4, 7, 41, 55, 207336),
            "event_action": "/Services.CreateService",
            "action_normalized": "function.create",
            "cloud_account_id": "tern-lab-4471",
            "cloud_region": "europe-west3",
            "target_name": "ledger-api",
            "actor_principal": None,
        },
    ]
    assert rows(s, "SELECT label, count FROM ingest_skipped") == [
        {"label": "gcp:serviceusage.googleapis.com", "count": 1}
    ]
    assert rows(s, "SELECT reason_code FROM ingest_issues") == []


def test_a_status_message_without_an_error_code_is_not_an_error() -> None:
    # Cloud Run system events log "Ready condition status changed to True ..." as
    # status.message with no code: a success, not an error message.
    s = load(GCP / "gcloud_nested_timestamp")
    got = rows(
        s,
        "SELECT log_record, event_outcome, error_code, error_message, destination_domain "
        "FROM cloud_audit ORDER BY log_record",
    )
    assert got == [
        {
            "log_record": 1,
            "event_outcome": "success",
            "error_code": None,
            "error_message": None,
            "destination_domain": None,
        },
        {
            "log_record": 2,
            "event_outcome": "failure",
            "error_code": "7",
            "error_message": "Permission 'run.services.update' denied on resource "
            "'namespaces/tern-lab-4471/services/ledger-api'",
            "destination_domain": None,
        },
        {
            "log_record": 4,
            "event_outcome": "success",
            "error_code": None,
            "error_message": None,
            "destination_domain": "ledger-api-k3v9qz2xla-ey.a.run.app",
        },
    ]


def test_functions_v2_operation_entries_name_the_function_host() -> None:
    # The last entry's response gives the function's URL (cloudfunctions.net) and the URI
    # of the Cloud Run service behind it (run.app); the first entry has only the derived
    # host. Both entries of the operation must name the same function host.
    s = load(GCP / "functions_v2_operation")
    got = rows(
        s,
        "SELECT log_line, timestamp, action_normalized, destination_domain, target_url, "
        "event_correlation_id, actor_type, source_ip FROM cloud_audit ORDER BY log_line",
    )
    op = (
        "projects/tern-lab-4471/locations/europe-west3/operations/"
        "operation-1793528401402-6a1f0c2d93e1b-7be0a1c4-19d2e6f0"
    )
    assert got == [
        {
            "log_line": 1,
            "timestamp": datetime(2026, 11, 5, 10, 20, 1, 911736),
            "action_normalized": "function.update_code",
            "destination_domain": "europe-west3-tern-lab-4471.cloudfunctions.net",
            "target_url": None,
            "event_correlation_id": op,
            "actor_type": "serviceAccount",
            "source_ip": "198.51.100.23",
        },
        {
            "log_line": 2,
            "timestamp": datetime(2026, 11, 5, 10, 21, 7, 326180),
            "action_normalized": "function.update",
            "destination_domain": "europe-west3-tern-lab-4471.cloudfunctions.net",
            "target_url": "https://europe-west3-tern-lab-4471.cloudfunctions.net/ledgerSync",
            "event_correlation_id": op,
            "actor_type": "serviceAccount",
            "source_ip": None,
        },
    ]
