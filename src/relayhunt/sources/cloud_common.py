"""SQL helpers the cloud audit readers share."""

from __future__ import annotations


def epoch_or_iso(v: str) -> str:
    """SQL: a time given as RFC 3339 text or as epoch seconds / milliseconds /
    nanoseconds (Logpush ``timestamp_format`` ``unix`` / ``unixnano``) -> UTC TIMESTAMP."""
    return f"""CASE
        WHEN regexp_full_match(trim({v}), '[0-9]{{18,19}}')
             THEN TRY(make_timestamp(TRY_CAST(trim({v}) AS BIGINT) // 1000))
        WHEN regexp_full_match(trim({v}), '[0-9]{{13,16}}(\\.[0-9]+)?')
             THEN TRY(rh_epoch_ms({v}))
        WHEN regexp_full_match(trim({v}), '[0-9]{{9,11}}(\\.[0-9]+)?')
             THEN TRY(rh_epoch_s({v}))
        ELSE rh_ts({v}) END"""


def url_host(v: str) -> str:
    """SQL: the hostname of a URL (or of a route pattern such as ``*.example.com/*``)."""
    return (
        f"rh_host(NULLIF(ltrim(regexp_extract({v}, "
        f"'^(?:[A-Za-z][A-Za-z0-9+.-]*://)?([^/:?#]+)', 1), '*.'), ''))"
    )


__all__ = ["epoch_or_iso", "url_host"]
