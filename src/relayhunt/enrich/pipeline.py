"""Build the tables detections read, from the normalized store.

* ``proc_info``: one row per process entity (its start event): image, command line,
  parent, user. Network events often carry only the entity id and image; their
  command line and parent come from here.
* ``connection_attribution`` (table) and ``connection_attributed`` (a view of every
  connection with its attribution): see :mod:`relayhunt.enrich.attribution`.
* ``net_obs``: every connection and every DNS lookup, one row each, with the hostname
  (attributed for connections, the question for lookups), process context, and the three
  lookup values the rules filter records on: ``serverless_id`` and ``serverless_legacy``
  (the catalog match) and ``process_category`` (the process class).
* ``net_domains``: every distinct hostname of ``net_obs`` with its whole catalog match
  (``serverless_*``), and ``net_images``: every distinct image with its process class
  (``process_*``). Rules join them onto their groups after aggregation; they are not
  copied onto every record (at 10M events those ten columns cost about 3 s to write, and
  the rules' aggregates over them as much again). Rules that test hostnames against lists
  of their own (the compat rules) test each hostname of ``net_domains`` once.
* ``cloud_obs``: every ``cloud_audit`` record with the catalog match of its function's
  hostname (``serverless_*``; the platform from the service where no hostname is known)
  and the caller's tool class (``user_agent_class``: cli, sdk, iac, console).

Everything is SQL over whole tables; the catalog match joins on hostname label suffixes.
"""

from __future__ import annotations

import duckdb

from relayhunt.catalog import (
    Catalog,
    classify_process_query,
    match_query,
    register_catalog,
    user_writable_dir_sql,
)
from relayhunt.enrich.attribution import attribute_connections, time_order_sql
from relayhunt.sources.azure_activity import operations_sql

HOST_KEY = "coalesce(host_name, host_id, source_ip)"


# Every observation table (net_obs, cmdline_hosts, cloud_obs) carries ``obs_order``: the
# record's place in time, one HUGEINT with the time in microseconds in the high 64 bits
# and a hash of where the record was read (file, line, record, kind) in the low 64 bits to
# order records of the same microsecond. Rules take a group's context from its earliest
# record by it (detect.base.FIRST), so the same input gives the same choice whatever the
# file order or thread timing. It is computed here once per record: as an expression in
# the rules it was evaluated once per aggregate, some thirty times per record and rule
# (10M events: RH-SL-001 10.1 s against 7.3 s with the column).
def obs_order_sql(kind: str = "obs_kind") -> str:
    """SQL for ``obs_order`` over a table's provenance columns; ``kind`` is the SQL of the
    observation kind (a column, or a literal where the table has none yet)."""
    return time_order_sql("timestamp", f"hash(log_file_path, log_line, log_record, {kind})")


# What a network sensor can say about the client without a process: 'tool' for HTTP
# libraries and command-line clients, 'browser' for browser user agents, else NULL.
USER_AGENT_CLASS = r"""CASE
    WHEN user_agent_original IS NULL THEN NULL
    WHEN regexp_matches(user_agent_original,
         '(?i)(curl|wget|python|aiohttp|httpx|go-http-client|powershell|winhttp|'
         || 'microsoft bits|okhttp|java/|apache-httpclient|node-fetch|axios|undici|'
         || 'libwww|ruby|perl|nim|rust|reqwest|deno/|bun/|certutil)') THEN 'tool'
    WHEN regexp_matches(user_agent_original, '(?i)^mozilla/5\.0 .*(gecko|applewebkit)')
         THEN 'browser'
    END"""


def prepare(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog | None = None,
    *,
    dns_max_age_s: int = 86_400,
) -> Catalog:
    """Create ``proc_info``, ``connection_attributed``, ``net_obs`` and its lookup tables
    (``net_domains``, ``net_images``). Returns the catalog in use."""
    cat = register_catalog(con, catalog)
    con.execute(
        """
        CREATE OR REPLACE TABLE proc_info AS
        SELECT coalesce(host_name, host_id) AS host_key, process_entity_id,
               arg_max(host_name, timestamp) AS host_name,
               arg_max(user_name, timestamp) AS user_name,
               arg_max(process_pid, timestamp) AS process_pid,
               arg_max(process_executable, timestamp) AS process_executable,
               arg_max(process_name, timestamp) AS process_name,
               arg_max(process_command_line, timestamp) AS process_command_line,
               arg_max(process_parent_entity_id, timestamp) AS process_parent_entity_id,
               arg_max(process_parent_executable, timestamp) AS process_parent_executable,
               arg_max(process_parent_name, timestamp) AS process_parent_name,
               arg_max(process_parent_command_line, timestamp) AS process_parent_command_line,
               min(timestamp) AS process_start
        FROM process
        WHERE process_entity_id IS NOT NULL
        GROUP BY ALL
        """
    )
    dns = _dns_with_clients(con, dns_max_age_s)
    attribute_connections(con, dns_max_age_s=dns_max_age_s, dns=dns)
    obs_cols = """timestamp, host_key, host_name, host_id, user_name, process_entity_id,
        process_pid, process_executable, process_name, process_command_line,
        process_parent_entity_id, process_parent_executable, process_parent_name,
        process_parent_command_line, event_action, event_outcome, log_format, log_file_path,
        log_line, log_record"""
    observations = f"""
        SELECT 'connection' AS obs_kind, {obs_cols},
               attributed_domain AS domain, attributed_domain_origin AS domain_origin,
               destination_ip, destination_port, source_bytes, destination_bytes,
               url_original, user_agent_original
        FROM connection_attributed
        UNION ALL
        SELECT 'dns' AS obs_kind, timestamp, {HOST_KEY} AS host_key, host_name, host_id,
               user_name, process_entity_id, process_pid, process_executable, process_name,
               process_command_line, process_parent_entity_id, process_parent_executable,
               process_parent_name, process_parent_command_line, event_action,
               event_outcome, log_format, log_file_path, log_line, log_record,
               dns_question_name AS domain, 'dns_query' AS domain_origin,
               dns_resolved_ip[1] AS destination_ip, NULL::INTEGER AS destination_port,
               NULL::BIGINT AS source_bytes, NULL::BIGINT AS destination_bytes,
               NULL AS url_original, NULL AS user_agent_original
        FROM {dns}
    """
    # Fill process context from the process's start event where the row lacks it.
    with_context = f"""
        SELECT o.* REPLACE (
                 coalesce(o.host_name, p.host_name) AS host_name,
                 coalesce(o.user_name, p.user_name) AS user_name,
                 coalesce(o.process_pid, p.process_pid) AS process_pid,
                 coalesce(o.process_executable, p.process_executable) AS process_executable,
                 coalesce(o.process_name, p.process_name) AS process_name,
                 coalesce(o.process_command_line, p.process_command_line)
                     AS process_command_line,
                 coalesce(o.process_parent_entity_id, p.process_parent_entity_id)
                     AS process_parent_entity_id,
                 coalesce(o.process_parent_executable, p.process_parent_executable)
                     AS process_parent_executable,
                 coalesce(o.process_parent_name, p.process_parent_name)
                     AS process_parent_name,
                 coalesce(o.process_parent_command_line, p.process_parent_command_line)
                     AS process_parent_command_line)
        FROM ({observations}) o
        LEFT JOIN proc_info p
               ON o.process_entity_id = p.process_entity_id
              AND coalesce(o.host_name, o.host_id) = p.host_key
    """
    # The catalog match and the process classes are computed once per distinct hostname
    # and image (small lookup tables), then joined on in the one pass that writes net_obs.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _rh_domains AS
        SELECT DISTINCT attributed_domain AS domain FROM connection_attribution
        UNION
        SELECT DISTINCT dns_question_name FROM dns WHERE dns_question_name IS NOT NULL
        """
    )
    matched = match_query("_rh_domains", "domain", cat, prefix="serverless")
    con.execute(f"CREATE OR REPLACE TABLE net_domains AS {matched}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_images AS
        SELECT DISTINCT image AS _image FROM (
          SELECT unnest([process_executable, process_name]) AS image FROM connection
          UNION ALL
          SELECT unnest([process_executable, process_name]) FROM {dns}
          UNION ALL
          SELECT unnest([process_executable, process_name]) FROM proc_info
        ) WHERE image IS NOT NULL
        """
    )
    classified = classify_process_query("_rh_images", "_image", cat, prefix="process")
    con.execute(
        f"""CREATE OR REPLACE TABLE net_images AS
            SELECT _image AS image, * EXCLUDE (_image) FROM ({classified})"""
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE net_obs AS
            SELECT o.*, m.serverless_id, m.serverless_legacy, c.process_category,
                   {USER_AGENT_CLASS} AS user_agent_class, {obs_order_sql()} AS obs_order
            FROM ({with_context}) o
            LEFT JOIN net_domains m ON m.domain = o.domain
            LEFT JOIN net_images c ON c.image = coalesce(o.process_executable, o.process_name)"""
    )
    for tmp in ("_rh_domains", "_rh_images"):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")
    _cmdline_hosts(con, cat)
    _cloud_obs(con, cat)
    con.execute(
        f"""CREATE OR REPLACE TABLE file_obs AS
            SELECT *, {user_writable_dir_sql("file_path", cat)} AS file_user_writable_dir
            FROM file"""
    )
    return cat


# A hostname-shaped token: labels of letters, digits and hyphens, a letter-led last label.
HOST_PATTERN = r"(?:[a-z0-9_](?:[a-z0-9_-]{0,62}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}"


# The process context a DNS lookup known only by its process id takes from the instance
# of that process id (same host) nearest in time: its start event, or its connections.
_CLIENT_COLUMNS = (
    "process_entity_id",
    "process_executable",
    "process_name",
    "process_command_line",
    "user_name",
    "process_parent_entity_id",
    "process_parent_executable",
    "process_parent_name",
    "process_parent_command_line",
)


def _dns_with_clients(con: duckdb.DuckDBPyConnection, max_age_s: int) -> str:
    """The relation the enrichment reads DNS lookups from: ``dns`` itself, or, where some
    lookups name their process by pid alone (Defender's DnsQueryResponse names the DNS
    service's client so), a view of ``dns`` in which those lookups take the process
    instance of that pid on that host nearest in time (within ``max_age_s``): the start
    event's, else the connections' entity id, image, command line, user and parent.
    Without this a client's lookups and connections grouped as two processes (the name
    alone against the full path), and attribution matched them only by pid."""
    row = con.execute(
        "SELECT count(*) FROM dns WHERE process_entity_id IS NULL AND process_pid IS NOT NULL"
    ).fetchone()
    if row is None or not row[0]:
        return "dns"
    host = "coalesce(host_name, host_id)"
    cols = ", ".join(_CLIENT_COLUMNS[1:])
    latest = ", ".join(f"arg_max({c}, timestamp) AS {c}" for c in _CLIENT_COLUMNS[1:])
    # the nearest instance; of two as near (pid reuse), the one with the smaller id
    nearest = ", ".join(
        f"arg_min({c}, (distance, process_entity_id)) AS {c}" for c in _CLIENT_COLUMNS
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_dns_client AS
        WITH asked AS (
          SELECT rowid AS dns_row, {host} AS host_key, process_pid AS pid, timestamp
          FROM dns WHERE process_entity_id IS NULL AND process_pid IS NOT NULL
        ),
        seen AS (  -- process instances of those (host, pid) pairs, with when they were seen
          SELECT host_key, process_pid AS pid, process_entity_id, process_start AS first_seen,
                 process_start AS last_seen, {cols}
          FROM proc_info
          WHERE (host_key, process_pid) IN (SELECT host_key, pid FROM asked)
          UNION ALL
          SELECT {host}, process_pid, process_entity_id, min(timestamp), max(timestamp), {latest}
          FROM connection
          WHERE process_entity_id IS NOT NULL
            AND ({host}, process_pid) IN (SELECT host_key, pid FROM asked)
          GROUP BY ALL
        ),
        inst AS (
          SELECT host_key, pid, process_entity_id, min(first_seen) AS first_seen,
                 max(last_seen) AS last_seen,
                 {", ".join(f"arg_min({c}, first_seen) AS {c}" for c in _CLIENT_COLUMNS[1:])}
          FROM seen GROUP BY ALL
        ),
        d AS (
          SELECT a.dns_row, i.*,
                 CASE WHEN a.timestamp < i.first_seen
                      THEN date_diff('second', a.timestamp, i.first_seen)
                      WHEN a.timestamp > i.last_seen
                      THEN date_diff('second', i.last_seen, a.timestamp)
                      ELSE 0 END AS distance
          FROM asked a JOIN inst i ON i.host_key = a.host_key AND i.pid = a.pid
        )
        SELECT dns_row, {nearest}
        FROM d WHERE distance <= {int(max_age_s)}
        GROUP BY dns_row
        """
    )
    filled = ", ".join(f"coalesce(d.{c}, c.{c}) AS {c}" for c in _CLIENT_COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW _rh_dns AS
        SELECT d.* EXCLUDE (_rh_row) REPLACE ({filled})
        FROM (SELECT rowid AS _rh_row, * FROM dns) d
        LEFT JOIN _rh_dns_client c ON c.dns_row = d._rh_row
        """
    )
    return "_rh_dns"


def _cmdline_hosts(con: duckdb.DuckDBPyConnection, cat: Catalog) -> None:
    """``cmdline_hosts``: one row per (process start, serverless hostname on its command
    line), with the process class."""
    # Every hostname-shaped token of every command line, as (process row, token) only:
    # the catalog match runs once per distinct token, and only the processes with a
    # catalogued token are read in full. (Copying every process row once per token, then
    # matching every copy, cost ~3 s at 10M events; most tokens are image names.)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rh_cmd AS
        SELECT rowid AS _prow, unnest(list_distinct(regexp_extract_all(
                 lower(process_command_line), '{HOST_PATTERN}'))) AS cmd_host
        FROM process WHERE process_command_line IS NOT NULL
        """
    )
    matched = match_query(
        "(SELECT DISTINCT cmd_host FROM _rh_cmd)", "cmd_host", cat, prefix="serverless"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _rh_cmd_match AS
            SELECT * FROM ({matched}) WHERE serverless_id IS NOT NULL"""
    )
    hits = f"""(SELECT p.*, t.cmd_host, 'process' AS obs_kind,
                       {obs_order_sql("'process'")} AS obs_order,
                       m.* EXCLUDE (cmd_host),
                       coalesce(p.process_executable, p.process_name) AS _image
                FROM _rh_cmd t
                JOIN _rh_cmd_match m ON m.cmd_host = t.cmd_host
                JOIN process p ON p.rowid = t._prow)"""
    classified = classify_process_query(hits, "_image", cat, prefix="process")
    con.execute(
        f"CREATE OR REPLACE TABLE cmdline_hosts AS SELECT * EXCLUDE (_image) FROM ({classified})"
    )
    for tmp in ("_rh_cmd", "_rh_cmd_match"):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")


# The caller's tool, from a cloud audit record's user agent: the provider CLIs and
# wrangler ('cli'), SDKs and HTTP libraries ('sdk'), infrastructure-as-code ('iac'), the
# web consoles ('console'); for Azure, which logs no user agent, the client application
# named by the token's appid (``client_app``).
CLOUD_USER_AGENT_CLASS = r"""CASE
    WHEN client_app IN ('Azure CLI', 'Azure PowerShell', 'Microsoft Graph Command Line Tools')
         THEN 'cli'
    WHEN client_app = 'Azure portal' THEN 'console'
    WHEN user_agent_original IS NULL THEN NULL
    WHEN regexp_matches(user_agent_original,
         '(?i)(terraform|pulumi|aws-cdk|cloudformation|serverless/|sam-cli|'
         || 'deploymentmanager|bicep|arm-template)') THEN 'iac'
    WHEN regexp_matches(user_agent_original,
         '(?i)(aws-cli|gcloud|google-cloud-sdk|azure-cli|azurecli|wrangler|'
         || 'curl/|wget|powershell|az\.[a-z]+/)') THEN 'cli'
    WHEN regexp_matches(user_agent_original,
         '(?i)(boto3|botocore|aws-sdk|aws-internal/3|google-api-|gl-python|gcloud-python|'
         || 'grpc-|azsdk|azure-sdk|msrest|python-requests|python-urllib|go-http-client|'
         || 'node-fetch|axios|okhttp|java/|cloudflare-python|cloudflare-go)') THEN 'sdk'
    WHEN regexp_matches(user_agent_original,
         '(?i)(console\.amazonaws\.com|signin\.amazonaws\.com|'
         || 'aws-internal|console\.cloud\.google\.com|portal\.azure|mozilla/)')
         THEN 'console'
    END"""

# The platform of a cloud call whose function hostname is not known.
CLOUD_PLATFORM = """CASE
    WHEN cloud_service = 'lambda.amazonaws.com' THEN 'AWS Lambda'
    WHEN cloud_service = 'apigateway.amazonaws.com' THEN 'Amazon API Gateway'
    WHEN cloud_service = 'cloudfront.amazonaws.com' THEN 'Amazon CloudFront Functions'
    WHEN cloud_service = 'cloudfunctions.googleapis.com' THEN 'Google Cloud Functions'
    WHEN cloud_service = 'run.googleapis.com' THEN 'Google Cloud Run (incl. Cloud Run functions)'
    WHEN cloud_provider = 'gcp' THEN 'Google Cloud ' || coalesce(cloud_service, '')
    WHEN cloud_provider = 'azure' THEN 'Azure Functions / App Service'
    WHEN cloud_provider = 'cloudflare' THEN 'Cloudflare Workers'
    END"""


def _cloud_obs(con: duckdb.DuckDBPyConnection, cat: Catalog) -> None:
    """``cloud_obs``: cloud audit records with the catalog match and the caller's tool."""
    # A function's hostname, once any record names it (the function URL in the response
    # to CreateFunctionUrlConfig), holds for every record of that function.
    known = f"""(SELECT * REPLACE (coalesce(destination_domain, max(destination_domain) OVER (
                   PARTITION BY cloud_provider, cloud_account_id, target_id))
                   AS destination_domain)
                FROM ({operations_sql("cloud_audit")}))"""
    matched = match_query(known, "destination_domain", cat, prefix="serverless")
    con.execute(
        f"""CREATE OR REPLACE TABLE cloud_obs AS
            SELECT * REPLACE (coalesce(serverless_platform, {CLOUD_PLATFORM})
                              AS serverless_platform,
                              coalesce(serverless_provider, CASE cloud_provider
                                  WHEN 'aws' THEN 'Amazon' WHEN 'gcp' THEN 'Google'
                                  WHEN 'azure' THEN 'Microsoft'
                                  WHEN 'cloudflare' THEN 'Cloudflare' END)
                              AS serverless_provider),
                   {CLOUD_USER_AGENT_CLASS} AS user_agent_class,
                   'cloud_audit' AS obs_kind,
                   {obs_order_sql("'cloud_audit'")} AS obs_order
            FROM ({matched})"""
    )
