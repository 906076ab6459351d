"""The serverless catalog (which hostnames belong to which platform) and the process
classes (browser, webview, LOLBin), as versioned YAML data plus vectorised SQL matching.

Typical use::

    con = duckdb.connect()
    sql = match_sql(con, "dns", "dns_question_name")   # every row + serverless_* columns
    findings = con.sql(sql)

See docs/catalog.md.
"""

from __future__ import annotations

from relayhunt.catalog.hostnames import normalize_host, normalize_host_sql
from relayhunt.catalog.loader import load_catalog
from relayhunt.catalog.match import (
    MATCH_COLUMNS,
    PATTERNS_TABLE,
    PROCESS_CLASSES_TABLE,
    PROCESS_COLUMNS,
    PSL_RULES_TABLE,
    WRITABLE_PATHS_TABLE,
    catalog_tables,
    classify_process_query,
    classify_process_sql,
    classify_processes,
    match_hosts,
    match_query,
    match_sql,
    process_basename_sql,
    register_catalog,
    user_writable_dir_sql,
)
from relayhunt.catalog.model import (
    Catalog,
    CatalogError,
    CatalogIssue,
    HostExample,
    Placeholder,
    ProcessClass,
    PslRule,
    ServerlessEntry,
    WritablePath,
)

__all__ = [
    "MATCH_COLUMNS",
    "PATTERNS_TABLE",
    "PROCESS_CLASSES_TABLE",
    "PROCESS_COLUMNS",
    "PSL_RULES_TABLE",
    "WRITABLE_PATHS_TABLE",
    "Catalog",
    "CatalogError",
    "CatalogIssue",
    "HostExample",
    "Placeholder",
    "ProcessClass",
    "PslRule",
    "ServerlessEntry",
    "WritablePath",
    "catalog_tables",
    "classify_process_query",
    "classify_process_sql",
    "classify_processes",
    "load_catalog",
    "match_hosts",
    "match_query",
    "match_sql",
    "normalize_host",
    "normalize_host_sql",
    "process_basename_sql",
    "register_catalog",
    "user_writable_dir_sql",
]
