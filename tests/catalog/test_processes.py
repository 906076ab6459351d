"""Process classification: basename of Windows and POSIX paths, classes, writable folders."""

from __future__ import annotations

import string

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayhunt.catalog import (
    Catalog,
    classify_process_sql,
    classify_processes,
    load_catalog,
    process_basename_sql,
)
from relayhunt.catalog.reference import classify_process, process_basename, user_writable_dir

CATALOG = load_catalog()

WIN_TEMP = r"C:\Users\bob\AppData\Local\Temp"
CASES = [
    # path, basename, category, subcategory, user-writable folder
    (r"C:\Program Files\Google\Chrome\Application\chrome.exe", "chrome.exe", "browser", None,
     None),
    (r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe", "msedge.exe", "browser",
     None, None),
    (r"C:\Program Files (x86)\Microsoft\EdgeWebView\Application\131.0.2903.86\msedgewebview2.exe",
     "msedgewebview2.exe", "webview", None, None),
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", "powershell.exe", "lolbin",
     "shell", None),
    (r"C:\WINDOWS\system32\WSCRIPT.EXE", "wscript.exe", "lolbin", "script_host", None),
    (r"\Device\HarddiskVolume3\Windows\System32\curl.exe", "curl.exe", "lolbin", "downloader",
     None),
    (WIN_TEMP + r"\df00tech_gapps_test.js", "df00tech_gapps_test.js", None, None, "temp"),
    (r"C:\Users\bob\AppData\Local\Programs\Python\Python312\python.exe", "python.exe", "lolbin",
     "interpreter", "appdata"),
    (r"C:\Users\bob\AppData\Roaming\svc\update.exe", "update.exe", None, None, "appdata"),
    (r"C:\Users\bob\Downloads\invoice.exe", "invoice.exe", None, None, "downloads"),
    (r"C:\Users\Public\run.exe", "run.exe", None, None, "public"),
    (r"C:\Users\bob\x.exe", "x.exe", None, None, "profile"),
    (r"D:\Users\bob\Downloads\x.exe", "x.exe", None, None, "downloads"),
    (r"\\?\C:\Windows\Temp\x.exe", "x.exe", None, None, "temp"),
    (r"\Device\HarddiskVolume2\Users\bob\AppData\Local\Temp\a.exe", "a.exe", None, None, "temp"),
    (r"C:\ProgramData\x\y.exe", "y.exe", None, None, "programdata"),
    (r"C:\Windows\Tasks\z.exe", "z.exe", None, None, "system_writable"),
    (r"C:\Users\PublicX\a.exe", "a.exe", None, None, "profile"),
    (r"%TEMP%\stage.exe", "stage.exe", None, None, "temp"),
    ('"C:\\Program Files\\Mozilla Firefox\\firefox.exe"', "firefox.exe", "browser", None, None),
    ("/usr/bin/python3", "python3", "lolbin", "interpreter", None),
    ("/usr/bin/curl", "curl", "lolbin", "downloader", None),
    ("/opt/google/chrome/chrome", "chrome", "browser", None, None),
    ("/Applications/Safari.app/Contents/MacOS/Safari", "safari", "browser", None, None),
    ("/System/Library/Frameworks/WebKit.framework/Versions/A/XPCServices/"
     "com.apple.WebKit.Networking.xpc/Contents/MacOS/com.apple.WebKit.Networking",
     "com.apple.webkit.networking", "webview", None, None),
    ("/Applications/Google Chrome.app/Contents/Frameworks/Google Chrome Framework.framework/"
     "Versions/131.0.6778.86/Helpers/Google Chrome Helper.app/Contents/MacOS/Google Chrome Helper",
     "google chrome helper", "browser", None, None),
    ("/usr/bin/osascript", "osascript", "lolbin", "script_host", None),
    ("/tmp/.x/beacon", "beacon", None, None, "temp"),
    ("/dev/shm/x", "x", None, None, "temp"),
    ("/Users/alice/Downloads/Installer", "installer", None, None, "downloads"),
    ("/private/var/folders/xy/abc/T/payload", "payload", None, None, "temp"),
    ("/home/alice/.local/bin/agent", "agent", None, None, "profile"),
    ("/usr/local/bin/node", "node", "lolbin", "interpreter", None),
    ("powershell.exe", "powershell.exe", "lolbin", "shell", None),
    ("tmp/evil.exe", "evil.exe", None, None, None),
    ("C:\\tmp\\evil.exe", "evil.exe", None, None, None),
    ("C:\\Users\\", None, None, None, None),
]  # fmt: skip
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(
    ("path", "basename", "category", "subcategory", "writable"), CASES, ids=IDS
)
def test_classify_in_sql(
    path: str,
    basename: str | None,
    category: str | None,
    subcategory: str | None,
    writable: str | None,
) -> None:
    (row,) = classify_processes([path]).to_pylist()
    assert row["process_basename"] == basename
    assert row["process_category"] == category
    assert row["process_subcategory"] == subcategory
    assert row["process_user_writable_dir"] == writable


@pytest.mark.parametrize(
    ("path", "basename", "category", "subcategory", "writable"), CASES, ids=IDS
)
def test_classify_in_python(
    path: str,
    basename: str | None,
    category: str | None,
    subcategory: str | None,
    writable: str | None,
) -> None:
    assert process_basename(path) == basename
    found = classify_process(CATALOG, path)
    assert (found.category if found else None) == category
    assert (found.subcategory if found else None) == subcategory
    assert user_writable_dir(CATALOG, path) == writable


PATHISH = st.lists(
    st.sampled_from(["C:", "Users", "bob", "AppData", "Local", "Temp", "tmp", "Downloads",
                     "Windows", "System32", "chrome.exe", "Safari", "/", "\\", "%TEMP%", "private",
                     "var", "folders", "dev", "shm", '"', " "])
    | st.text(string.ascii_letters + "._- ", max_size=8),
    max_size=8,
).map(lambda parts: "\\".join(parts) if len(parts) % 2 else "/".join(parts))  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(paths=st.lists(PATHISH, min_size=1, max_size=20))
def test_sql_and_python_classification_agree(paths: list[str]) -> None:
    rows = classify_processes(paths).to_pylist()
    got = [
        (r["process_basename"], r["process_category"], r["process_user_writable_dir"]) for r in rows
    ]
    want = []
    for path in paths:
        found = classify_process(CATALOG, path)
        want.append(
            (
                process_basename(path),
                found.category if found else None,
                user_writable_dir(CATALOG, path),
            )
        )
    assert got == want


def test_classify_process_sql_keeps_rows_and_takes_a_prefix(catalog: Catalog) -> None:
    con = duckdb.connect(":memory:")
    con.register(
        "proc",
        pa.table(
            {
                "n": [1, 2, 3],
                "process_executable": [r"C:\Windows\System32\mshta.exe", None, "/bin/bash"],
                "process_parent_executable": ["C:\\Windows\\explorer.exe", "x", "/usr/sbin/sshd"],
            }
        ),
    )
    first = classify_process_sql(con, "proc", "process_executable", catalog)
    con.execute(f"CREATE TEMP TABLE proc2 AS {first}")
    second = classify_process_sql(
        con, "proc2", "process_parent_executable", catalog, prefix="parent"
    )
    rows = con.execute(
        f"SELECT process_category, process_subcategory, parent_basename FROM ({second}) ORDER BY n"
    ).fetchall()
    assert rows == [
        ("lolbin", "script_host", "explorer.exe"),
        (None, None, "x"),
        ("lolbin", "shell", "sshd"),
    ]


def test_basename_sql_expression_on_its_own() -> None:
    con = duckdb.connect(":memory:")
    value = con.execute(
        f"SELECT {process_basename_sql('p')} FROM (SELECT 'C:\\A/b\\C.EXE' AS p)"
    ).fetchone()
    assert value == ("c.exe",)
