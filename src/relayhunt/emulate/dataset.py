"""A large labelled fleet for the beacon accuracy and speed benchmarks.

``relayhunt emulate --dataset --hosts N --days D`` writes N hosts over D days:

* every workstation: the Microsoft 365 apps during office hours on weekdays (periodic,
  fleet-wide), Chrome driven by a person (office-hours sessions with heavy-tailed think
  times, some sites on serverless platforms), Windows' connectivity probe at random;
* some workstations: a backup agent reporting every 15 minutes to the estate's API
  Gateway endpoint (periodic, benign, shared by those hosts), developer tools against the
  team's Worker and Lambda URL (bursty, human);
* two servers (with 20 hosts or more): a monitoring agent checking two functions every
  60 s, a CI runner polling a deployment API during jobs;
* a few implants (about 3 % of hosts, at least 3): Cobalt Strike (60 s, jitter 0 to
  90 %), Sliver (60 s + 0..30 s), Mythic (10 s, 23 %), Havoc (2 s, 15 %), an Apps Script
  beacon every ~4 hours, and slow custom beacons (5 to 60 minutes, some beats missed),
  each through its own serverless tenant, active from a random time on (the fast ones
  for a few hours only).

``labels.csv`` beside the data lists every (host, process image, destination) group that
has connections, with ``label`` (``c2`` or ``benign``), the family, the timing model
(``period_s``, ``jitter``, ``jitter_model``), the number of check-ins and the first and
last time. Lookups follow each host's resolver cache (a lookup when the cached answer
expired), as network sensors see them.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from relayhunt.emulate import timing
from relayhunt.emulate.emulate import DEFAULT_SEED, DEFAULT_START, parse_start
from relayhunt.emulate.model import Builder, Destination, Host, HttpRequest, Process, Telemetry
from relayhunt.emulate.scenarios import (
    AWS_EU_PTR,
    AWS_PTR,
    BING,
    CHROME,
    DATADOG,
    EXPLORER,
    GOOGLE,
    NCSI,
    NETLIFY_SITE,
    NEWS,
    NODE,
    ONEDRIVE_SYNC,
    OUTLOOK,
    OUTLOOK_SVC,
    PAGES_SITE,
    PWSH,
    RUNDLL32,
    RUNNER_WORKER,
    SCRIPT_CONTENT,
    SCRIPT_GOOGLE,
    SERVICES,
    SHAREPOINT,
    SVCHOST,
    TEAMS,
    TEAMS_MAIN,
    VEEAM_AGENT,
    VERCEL_SITE,
    onedrive,
)
from relayhunt.emulate.writers import Format

DAY = 86_400.0


@dataclass
class Label:
    host: str
    fqdn: str
    ip: str
    process_image: str
    process_name: str
    destination: str
    destination_ips: str
    label: str
    family: str
    period_s: float | None = None
    jitter: float | None = None
    jitter_model: str = ""
    checkins: int = 0
    first_seen: str = ""
    last_seen: str = ""
    _times: list[float] = field(default_factory=list, repr=False)


@dataclass
class Dataset:
    out: Path
    hosts: int
    days: float
    seed: int
    telemetry: Telemetry
    labels: list[Label]
    files: dict[str, list[Path]]
    seconds: dict[str, float]


class _Fleet:
    def __init__(self, b: Builder, end: float) -> None:
        self.b = b
        self.end = end
        self.labels: dict[tuple[str, str, str], Label] = {}

    def flow(
        self,
        proc: Process,
        dest: Destination,
        times: np.ndarray | list[float],
        *,
        label: str,
        family: str,
        sent: tuple[float, float],
        recv: tuple[float, float],
        period: float | None = None,
        jitter: float | None = None,
        model: str = "",
        http: HttpRequest | None = None,
    ) -> None:
        ts = [float(t) for t in np.asarray(times).tolist() if self.b.start <= t < self.end]
        if not ts:
            return
        self.b.beacon(proc, dest, ts, sent=sent, recv=recv, dns="cache", http=http)
        h = proc.host
        key = (h.name, proc.image.lower(), dest.domain)
        lab = self.labels.get(key)
        if lab is None:
            lab = self.labels[key] = Label(
                h.name,
                h.fqdn,
                h.ip,
                proc.image,
                proc.name,
                dest.domain,
                ";".join(dest.ips),
                label,
                family,
                period,
                jitter,
                model,
            )
        lab._times.extend(ts)


def _office_windows(start: float, end: float) -> list[tuple[float, float]]:
    """09:00-17:00 (relative to the start time of day) on weekdays."""
    out = []
    day = start
    while day < end:
        if datetime.fromtimestamp(day, UTC).weekday() < 5:
            out.append((day, min(day + 8 * 3600.0, end)))
        day += DAY
    return out


def _tenant(rng: np.random.Generator, n: int) -> str:
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    return "".join(rng.choice(alphabet, size=n).tolist())


def _c2_destination(rng: np.random.Generator, kind: str, i: int) -> Destination:
    if kind == "workers":
        return Destination(
            f"cdn-{_tenant(rng, 6)}.{_tenant(rng, 8)}.workers.dev",
            (
                f"104.21.{10 + i % 200}.{20 + i % 200}",
                f"172.67.{30 + i % 200}.{40 + i % 200}",
            ),
        )
    if kind == "lambda":
        return Destination(
            f"{_tenant(rng, 32)}.lambda-url.us-east-1.on.aws",
            (f"3.208.{i % 250}.{21 + i % 200}", f"52.44.{i % 250}.7"),
            ptr=AWS_PTR,
            ttl=60,
        )
    if kind == "azure":
        return Destination(
            f"func-{_tenant(rng, 10)}.azurewebsites.net",
            (f"20.119.{i % 250}.{30 + i % 200}",),
            cnames=("waws-prod-blu-411.sip.azurewebsites.windows.net",),
        )
    if kind == "run":
        return Destination(
            f"svc-{_tenant(rng, 10)}-uc.a.run.app",
            ("216.239.32.53", "216.239.34.53"),
            ptr="any-in-{c}{d}.1e100.net",
        )
    if kind == "gcf":
        return Destination(
            f"us-central1-{_tenant(rng, 10)}.cloudfunctions.net",
            ("216.239.36.54",),
            ptr="any-in-2436.1e100.net",
        )
    if kind == "apigw":
        return Destination(
            f"{_tenant(rng, 10)}.execute-api.eu-west-1.amazonaws.com",
            (f"52.48.{i % 250}.{22 + i % 200}",),
            ptr=AWS_EU_PTR,
            ttl=60,
        )
    return Destination(
        f"{_tenant(rng, 8)}-{_tenant(rng, 4)}.vercel.app",
        (f"76.76.21.{10 + i % 200}",),
        cnames=("cname.vercel-dns.com",),
    )


# (family, period, jitter, jitter model, active seconds or None, platform, image kind)
IMPLANTS: tuple[tuple[str, float, float, str, float | None, str], ...] = (
    ("cobalt-strike", 60.0, 0.0, "sleep_jitter", None, "workers"),
    ("sliver", 60.0, 30.0, "additive", None, "lambda"),
    ("mythic", 10.0, 0.23, "sleep_jitter", 6 * 3600.0, "azure"),
    ("cobalt-strike", 60.0, 0.5, "sleep_jitter", None, "apigw"),
    ("havoc", 2.0, 0.15, "sleep_jitter", 2 * 3600.0, "run"),
    ("apps-script", 4 * 3600.0, 0.2, "sleep_jitter", None, "apps-script"),
    ("cobalt-strike", 60.0, 0.9, "sleep_jitter", None, "gcf"),
    ("custom", 900.0, 0.3, "sleep_jitter", None, "vercel"),
    ("cobalt-strike", 60.0, 0.2, "sleep_jitter", None, "workers"),
    ("custom", 3600.0, 0.1, "sleep_jitter", None, "lambda"),
    ("custom", 300.0, 0.5, "sleep_jitter", None, "azure"),
)
IMPLANT_IMAGES = (
    RUNDLL32,
    r"C:\Users\{user}\AppData\Roaming\Microsoft\Windows\Templates\msupdate.exe",
    r"C:\ProgramData\Microsoft\DeviceSync\devsync.exe",
    r"C:\Users\{user}\AppData\Local\Packages\SyncHost\synchost.exe",
    r"C:\Users\{user}\Downloads\invoice_viewer.exe",
    r"C:\Users\{user}\AppData\Local\GoogleDriveSync\gdsync.exe",
)


def _build(hosts: int, days: float, seed: int, start: float) -> tuple[Telemetry, list[Label]]:
    rng = np.random.default_rng([seed, 0xDA7A])
    b = Builder(start, rng)
    end = start + days * DAY
    fleet = _Fleet(b, end)
    windows = _office_windows(start, end)
    n_servers = 2 if hosts >= 20 else 0
    workstations: list[Host] = []
    for i in range(hosts - n_servers):
        h = b.host(f"WS-{i + 1:04d}", f"10.64.{i // 250}.{i % 250 + 1}", f"u{i + 1:04d}")
        workstations.append(h)
    backup = Destination(
        "b7m2x9k4qz.execute-api.eu-west-1.amazonaws.com",
        ("52.48.175.22", "63.34.101.5"),
        ptr=AWS_EU_PTR,
        ttl=60,
    )
    dev_worker = Destination("acme-api.acme-eng.workers.dev", ("104.21.80.12", "172.67.201.40"))
    sites = [
        GOOGLE,
        NEWS,
        SHAREPOINT,
        BING,
        PAGES_SITE,
        NETLIFY_SITE,
        VERCEL_SITE,
        SCRIPT_GOOGLE,
        SCRIPT_CONTENT,
    ]
    probe = HttpRequest("GET", "/connecttest.txt", "Microsoft NCSI", 200, 22)
    explorers: dict[str, Process] = {}
    for h in workstations:
        explorer = explorers[h.name] = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
        services = b.running(h, SERVICES, SERVICES, user="SYSTEM")
        t_logon = start + float(rng.uniform(60, 900))
        teams = b.process(
            h, TEAMS, f'"{TEAMS}" msteams:system-initiated', parent=explorer, t=t_logon + 8
        )
        od_image = onedrive(h.user)
        od = b.process(h, od_image, f'"{od_image}" /background', parent=explorer, t=t_logon + 9)
        outlook = b.process(h, OUTLOOK, f'"{OUTLOOK}" ', parent=explorer, t=t_logon + 14)
        for proc, dest, period, sizes in (
            (teams, TEAMS_MAIN, 300.0, ((1_500, 100), (2_400, 300))),
            (od, ONEDRIVE_SYNC, 600.0, ((900, 60), (1_700, 200))),
            (outlook, OUTLOOK_SVC, 600.0, ((1_200, 80), (3_500, 900))),
        ):
            times = np.concatenate(
                [
                    timing.periodic_poller(period, lo + 20, hi, rng, jitter_s=period / 100)
                    for lo, hi in windows
                ]
                or [np.empty(0)]
            )
            fleet.flow(
                proc,
                dest,
                times,
                label="benign",
                family="m365-heartbeat",
                sent=sizes[0],
                recv=sizes[1],
                period=period,
                jitter=period / 100,
                model="gaussian_s",
            )
        chrome = b.process(
            h,
            CHROME,
            f'"{CHROME}" --type=utility --utility-sub-type=network.mojom.NetworkService',
            parent=explorer,
            t=t_logon + 30,
        )
        visits = timing.human(6, start, end, rng)
        picks = rng.integers(0, len(sites), visits.size)
        for k, site in enumerate(sites):
            fleet.flow(
                chrome,
                site,
                visits[picks == k],
                label="benign",
                family="browser",
                sent=(1_800, 400),
                recv=(45_000, 20_000),
                model="human",
            )
        nla = b.running(
            h,
            SVCHOST,
            f"{SVCHOST} -k LocalService -p -s NlaSvc",
            user="LOCAL SERVICE",
            user_domain="NT AUTHORITY",
        )
        fleet.flow(
            nla,
            NCSI,
            timing.poisson(1 / 5_400.0, start, end, rng),
            label="benign",
            family="ncsi",
            sent=(165, 0),
            recv=(354, 0),
            model="poisson",
            http=probe,
        )
        if rng.random() < 0.10:
            agent = b.process(
                h,
                VEEAM_AGENT,
                f'"{VEEAM_AGENT}" -s 7c1f5a42',
                parent=services,
                t=start + 5,
                user="SYSTEM",
            )
            fleet.flow(
                agent,
                backup,
                timing.periodic_poller(900.0, start + 60, end, rng, jitter_s=4.0),
                label="benign",
                family="backup",
                sent=(1_100, 30),
                recv=(650, 40),
                period=900.0,
                jitter=4.0,
                model="gaussian_s",
            )
        if rng.random() < 0.08:
            node = b.process(
                h,
                NODE,
                f'"{NODE}" node_modules\\wrangler\\wrangler-dist\\cli.js dev --remote',
                parent=explorer,
                t=t_logon + 300,
            )
            fleet.flow(
                node,
                dev_worker,
                timing.human(5, start, end, rng, think_s=90.0),
                label="benign",
                family="developer-tools",
                sent=(1_300, 300),
                recv=(2_100, 600),
                model="human",
            )
    if n_servers:
        mon = b.host("MON-01", f"10.64.250.{1}", "svc_mon", workstation=False)
        svc = b.running(mon, SERVICES, SERVICES, user="SYSTEM")
        agent = b.process(mon, DATADOG, f'"{DATADOG}" run', parent=svc, t=start + 3, user="SYSTEM")
        for d in (
            Destination("acme-orders.azurewebsites.net", ("20.50.2.14",)),
            Destination(
                "p3v8n2c6x1z9m4b7q5w0e8r2t6y4u1i3.lambda-url.eu-west-1.on.aws",
                ("52.210.33.190",),
                ptr=AWS_EU_PTR,
                ttl=60,
            ),
        ):
            fleet.flow(
                agent,
                d,
                timing.periodic_poller(60.0, start + 10, end, rng, jitter_s=0.2),
                label="benign",
                family="monitoring",
                sent=(520, 10),
                recv=(310, 15),
                period=60.0,
                jitter=0.2,
                model="gaussian_s",
            )
        ci = b.host("GHA-RUNNER-01", "10.64.250.2", "svc_gha", workstation=False)
        svc = b.running(ci, SERVICES, SERVICES, user="SYSTEM")
        deploy = Destination(
            "9kq3zt7f2m.execute-api.eu-west-1.amazonaws.com",
            ("18.200.212.41",),
            ptr=AWS_EU_PTR,
            ttl=60,
        )
        for job_t in timing.poisson(3 / DAY, start, end, rng).tolist():
            worker = b.process(
                ci,
                RUNNER_WORKER,
                f'"{RUNNER_WORKER}" spawnclient 1532 1548',
                parent=svc,
                t=job_t,
                user="svc_gha",
            )
            pwsh = b.process(
                ci,
                PWSH,
                f'"{PWSH}" -command ". deploy.ps1"',
                parent=worker,
                t=job_t + 40,
                user="svc_gha",
            )
            fleet.flow(
                pwsh,
                deploy,
                timing.periodic_poller(10.0, job_t + 45, job_t + 225, rng, jitter_s=0.3),
                label="benign",
                family="ci-poll",
                sent=(640, 20),
                recv=(420, 30),
                period=10.0,
                jitter=0.3,
                model="gaussian_s",
            )

    n_c2 = min(max(3, round(hosts * 0.03)), max(1, len(workstations) // 3))
    victims = rng.choice(len(workstations), size=n_c2, replace=False)
    for k, v in enumerate(victims.tolist()):
        h = workstations[v]
        family, period, jitter, model, active, platform = IMPLANTS[k % len(IMPLANTS)]
        image = IMPLANT_IMAGES[k % len(IMPLANT_IMAGES)].format(user=h.user)
        dest = SCRIPT_GOOGLE if platform == "apps-script" else _c2_destination(rng, platform, k)
        t0 = start + float(rng.uniform(0.05, 0.4)) * (end - start)
        t1 = min(end, t0 + active) if active else end
        proc = b.process(h, image, f'"{image}"', parent=explorers[h.name], t=t0)
        if model == "additive":
            times = timing.additive_jitter(period, jitter, t0 + 1, t1, rng)
        else:
            missed = 0.05 if family == "custom" else 0.0
            times = timing.sleep_jitter(period, jitter, t0 + 1, t1, rng, missed=missed)
        fleet.flow(
            proc,
            dest,
            times,
            label="c2",
            family=family,
            sent=(600, 40),
            recv=(900, 200),
            period=period,
            jitter=jitter,
            model=model,
        )
    tel = b.build()
    labels = list(fleet.labels.values())
    for lab in labels:
        lab._times.sort()
        lab.checkins = len(lab._times)
        lab.first_seen = (
            datetime.fromtimestamp(lab._times[0], UTC).isoformat().replace("+00:00", "Z")
        )
        lab.last_seen = (
            datetime.fromtimestamp(lab._times[-1], UTC).isoformat().replace("+00:00", "Z")
        )
    labels.sort(key=lambda lab: (lab.host, lab.process_image.lower(), lab.destination))
    return tel, labels


LABEL_COLUMNS = (
    "host",
    "fqdn",
    "ip",
    "process_image",
    "process_name",
    "destination",
    "destination_ips",
    "label",
    "family",
    "period_s",
    "jitter",
    "jitter_model",
    "checkins",
    "first_seen",
    "last_seen",
)


def dataset(
    out: Path,
    formats: Sequence[Format],
    *,
    hosts: int = 200,
    days: float = 7.0,
    seed: int = DEFAULT_SEED,
    start: float | None = None,
) -> Dataset:
    """Write the fleet in ``formats`` under ``out`` (one folder per format), with
    ``labels.csv`` and ``dataset.json``."""
    if hosts < 3:
        raise ValueError("--hosts must be at least 3")
    if days <= 0:
        raise ValueError("--days must be positive")
    t0 = parse_start(DEFAULT_START) if start is None else start
    tick = time.perf_counter()
    tel, labels = _build(hosts, days, seed, t0)
    seconds = {"build": time.perf_counter() - tick}
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {}
    for fmt in formats:
        if fmt.family == "cloud":
            continue
        tick = time.perf_counter()
        files[fmt.name] = fmt.write(tel, out / fmt.name)
        seconds[fmt.name] = time.perf_counter() - tick
    with (out / "labels.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LABEL_COLUMNS)
        for lab in labels:
            row = asdict(lab)
            w.writerow(["" if row[c] is None else row[c] for c in LABEL_COLUMNS])
    meta = {
        "hosts": hosts,
        "days": days,
        "seed": seed,
        "start": datetime.fromtimestamp(t0, UTC).isoformat().replace("+00:00", "Z"),
        "events": len(tel.events),
        "groups": len(labels),
        "c2_groups": sum(1 for lab in labels if lab.label == "c2"),
        "formats": {k: [str(p.relative_to(out)) for p in v] for k, v in files.items()},
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
    return Dataset(out, hosts, days, seed, tel, labels, files, seconds)


__all__ = ["IMPLANTS", "LABEL_COLUMNS", "Dataset", "Label", "dataset"]
