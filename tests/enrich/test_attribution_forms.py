"""DNS attribution: the DuckDB form (ASOF JOIN) and the portable form (window functions,
what Spark runs) must pick the same answer for every connection, and neither may depend
on the order rows arrive in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayhunt.enrich.attribution import attribute_connections
from relayhunt.enrich.pipeline import obs_order_sql
from relayhunt.store import Store

T0 = datetime(2026, 11, 2, 8, 0)
# Small key spaces, so that keys collide, NULL keys meet NULL keys (and not empty ones),
# and answers share instants; times in 1 s steps around the 2 s skew and a 30 s maximum
# age.
HOSTS = st.sampled_from(["ws-1", "ws-2", "", None])
PROCS = st.sampled_from(["p-1", "p-2", "", None])
IPS = st.sampled_from(["10.0.0.1", "10.0.0.2", "::ffff:10.0.0.1"])
NAMES = st.sampled_from(["a.workers.dev", "b.workers.dev", "c.example", "d.example"])
SECONDS = st.integers(min_value=0, max_value=60)

ANSWER = st.tuples(HOSTS, PROCS, st.lists(IPS, min_size=1, max_size=2), NAMES, SECONDS)
CONNECTION = st.tuples(HOSTS, PROCS, IPS, SECONDS)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with Store() as s:
        yield s


def _load(
    con: duckdb.DuckDBPyConnection,
    answers: list[tuple[str | None, str | None, list[str], str, int]],
    conns: list[tuple[str | None, str | None, str, int]],
) -> None:
    con.execute("DELETE FROM dns")
    con.execute("DELETE FROM connection")
    for i, (host, proc, ips, name, sec) in enumerate(answers):
        con.execute(
            """INSERT INTO dns (timestamp, host_name, process_entity_id, dns_question_name,
                                dns_resolved_ip, log_format, log_file_path, log_line)
               VALUES (?, ?, ?, ?, ?, 'test', 'dns.ndjson', ?)""",
            [T0 + timedelta(seconds=sec), host, proc, name, ips, i + 1],
        )
    for i, (host, proc, ip, sec) in enumerate(conns):
        con.execute(
            """INSERT INTO connection (timestamp, host_name, process_entity_id,
                                       destination_ip, log_format, log_file_path, log_line)
               VALUES (?, ?, ?, ?, 'test', 'conn.ndjson', ?)""",
            [T0 + timedelta(seconds=sec), host, proc, ip.replace("::ffff:", ""), i + 1],
        )


def _attribution(con: duckdb.DuckDBPyConnection, *, portable: bool) -> list[tuple[object, ...]]:
    attribute_connections(con, dns_max_age_s=30, dns_skew_s=2, portable=portable)
    # each connection by its line (conn_row is a rowid, which DELETE does not reset)
    return con.execute(
        """SELECT c.log_line, a.attributed_domain, a.attributed_domain_origin,
                  a.attributed_dns_time
           FROM connection_attribution a
           JOIN (SELECT rowid + 1 AS conn_row, log_line FROM connection) c USING (conn_row)
           ORDER BY c.log_line"""
    ).fetchall()


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    answers=st.lists(ANSWER, max_size=12),
    conns=st.lists(CONNECTION, min_size=1, max_size=10),
)
def test_asof_and_window_forms_agree(
    store: Store,
    answers: list[tuple[str | None, str | None, list[str], str, int]],
    conns: list[tuple[str | None, str | None, str, int]],
) -> None:
    _load(store.con, answers, conns)
    assert _attribution(store.con, portable=False) == _attribution(store.con, portable=True)


def test_forms_agree_on_a_known_case(store: Store) -> None:
    """A fixed case that exercises every branch the property test relies on: a
    process-level answer, a host-level fallback, NULL keys on both sides (a network sensor
    sees no process), the skew, and an answer too old to use."""
    answers = [
        ("ws-1", "p-1", ["10.0.0.1"], "a.workers.dev", 10),
        ("ws-1", "p-2", ["10.0.0.2"], "b.workers.dev", 10),
        ("ws-2", None, ["10.0.0.1"], "c.example", 5),
    ]
    conns = [
        ("ws-1", "p-1", "10.0.0.1", 12),  # its own lookup
        ("ws-1", "p-1", "10.0.0.2", 12),  # another process's lookup on the host
        ("ws-1", "p-1", "10.0.0.1", 9),  # 1 s before the lookup: inside the 2 s skew
        ("ws-2", None, "10.0.0.1", 20),  # no process on either side
        ("ws-2", None, "10.0.0.1", 50),  # the answer is 45 s old: over the 30 s limit
    ]
    _load(store.con, answers, conns)
    want = [
        (1, "a.workers.dev", "dns_process"),
        (2, "b.workers.dev", "dns_host"),
        (3, "a.workers.dev", "dns_process"),
        (4, "c.example", "dns_process"),
    ]
    for portable in (False, True):
        got = [row[:3] for row in _attribution(store.con, portable=portable)]
        assert got == want, portable


@pytest.mark.parametrize("portable", [False, True])
def test_answers_of_the_same_instant_do_not_depend_on_row_order(portable: bool) -> None:
    """Two names behind one address, answered to one process in the same millisecond:
    the answer chosen used to follow the order the sort met the rows."""
    picked = set()
    for order in (["a.workers.dev", "b.workers.dev"], ["b.workers.dev", "a.workers.dev"]):
        with Store(threads=1) as s:
            _load(
                s.con,
                [("ws-1", "p-1", ["10.0.0.1"], name, 10) for name in order],
                [("ws-1", "p-1", "10.0.0.1", 11)],
            )
            rows = _attribution(s.con, portable=portable)
        assert len(rows) == 1
        picked.add(rows[0][1])
    assert len(picked) == 1


def test_obs_order_reads_times_before_1970() -> None:
    """``obs_order`` shifted the microseconds left by 64 bits, which DuckDB refuses for a
    negative number: one record dated before 1970 stopped the whole hunt."""
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT {obs_order_sql("'connection'")} AS o FROM (VALUES
              (TIMESTAMP '1969-12-31 23:59:59', 'f', 1, NULL),
              (TIMESTAMP '1970-01-01 00:00:01', 'f', 2, NULL))
              t(timestamp, log_file_path, log_line, log_record)
            ORDER BY o"""
    ).fetchall()
    assert len(rows) == 2 and rows[0][0] < 0 < rows[1][0]


@pytest.mark.parametrize("portable", [False, True])
def test_lookup_known_by_process_id_answers_that_process_only(store: Store, portable: bool) -> None:
    # Defender names the client of the DNS service by pid, without an entity id. Its
    # answer is the process's own for that pid's connections, and no process's for a
    # connection without a process or of another pid (both met the lookup's NULL entity
    # id at the process level before: 'dns_process' for any of them).
    con = store.con
    con.execute("DELETE FROM dns")
    con.execute("DELETE FROM connection")
    con.execute(
        """INSERT INTO dns (timestamp, host_name, process_pid, dns_question_name,
                            dns_resolved_ip, log_format, log_file_path, log_line)
           VALUES (?, 'ws-1', 7344, 'relay.acme.workers.dev', ['10.0.0.1'], 'test',
                   'dns.ndjson', 1)""",
        [T0],
    )
    for line, (entity, pid, sec) in enumerate(
        [("ws-1:7344:1", 7344, 5), (None, None, 6), ("ws-1:99:1", 99, 7)], start=1
    ):
        con.execute(
            """INSERT INTO connection (timestamp, host_name, process_entity_id, process_pid,
                                       destination_ip, log_format, log_file_path, log_line)
               VALUES (?, 'ws-1', ?, ?, '10.0.0.1', 'test', 'conn.ndjson', ?)""",
            [T0 + timedelta(seconds=sec), entity, pid, line],
        )
    got = _attribution(con, portable=portable)
    assert [(line, name, origin) for line, name, origin, _ in got] == [
        (1, "relay.acme.workers.dev", "dns_process"),
        (2, "relay.acme.workers.dev", "dns_host"),
        (3, "relay.acme.workers.dev", "dns_host"),
    ]
