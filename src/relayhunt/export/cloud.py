"""RH-CP-001..005 (serverless control plane) as per-event matches on each provider's audit
log, shared by the Sigma, KQL and SPL renderers.

The engine's rules are about *history*: a principal is "established" for a kind of change
when it made it on ``established_days`` distinct days in the data. A per-event rule has no
such memory; what it can do is (1) match the operations the engine maps to the same
normalised action (``sources/cloudtrail.py``, ``gcp_audit.py``, ``azure_activity.py``) and
(2) exclude the principals the estate lists as deployers (the tuning file's top-level
``deployers``, rendered in by ``relayhunt export --config``). Without that list every
deployment pipeline fires every day: that is the price of the per-event form, stated in
every header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# CloudTrail appends an API version to most Lambda event names
# (UpdateFunctionCode20150331v2): match the operation with an optional version.
AWS_VERSION: Final = "(20[0-9]{6}(v[0-9]+)?)?"


def aws_ops(*ops: str) -> str:
    """Anchored regex over CloudTrail ``eventName``: one of ``ops``, optionally versioned."""
    return "^(" + "|".join(ops) + ")" + AWS_VERSION + "$"


@dataclass(frozen=True, slots=True)
class AwsOps:
    source: str
    regex: str


AWS_CHANGE: Final = (
    AwsOps("lambda.amazonaws.com", aws_ops("UpdateFunctionCode", "UpdateFunctionConfiguration")),
    AwsOps("cloudfront.amazonaws.com", aws_ops("UpdateFunction")),
)
AWS_CREATE: Final = (
    AwsOps("lambda.amazonaws.com", aws_ops("CreateFunction")),
    AwsOps("cloudfront.amazonaws.com", aws_ops("CreateFunction")),
    AwsOps(
        "apigateway.amazonaws.com",
        aws_ops("CreateRestApi", "CreateApi", "ImportRestApi", "ImportApi"),
    ),
)
AWS_PUBLIC_URL: Final = aws_ops("CreateFunctionUrlConfig", "UpdateFunctionUrlConfig")
AWS_ADD_PERMISSION: Final = aws_ops("AddPermission")
AWS_LIST: Final = aws_ops("ListFunctions")
AWS_INVOKE: Final = aws_ops("Invoke", "InvokeFunction", "InvokeAsync", "InvokeWithResponseStream")
AWS_SERVICES: Final = (
    "lambda.amazonaws.com",
    "apigateway.amazonaws.com",
    "cloudfront.amazonaws.com",
)
AWS_DENIED: Final = (
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "Client.UnauthorizedOperation",
    "Forbidden",
)
# The engine's CLI and SDK user-agent classes (enrich/pipeline.py), AWS part.
AWS_TOOL_AGENTS: Final = ("aws-cli/", "Boto3/", "botocore/", "aws-sdk-", "aws-internal/3")

GCP_SERVICES: Final = ("cloudfunctions.googleapis.com", "run.googleapis.com")
GCP_CHANGE: Final = (".UpdateFunction", ".UpdateService", ".ReplaceService")
GCP_CREATE: Final = (".CreateFunction", ".CreateService", ".CreateApi", ".CreateGateway")
GCP_PUBLIC_MEMBERS: Final = ("allUsers", "allAuthenticatedUsers")

AZURE_PREFIX: Final = "MICROSOFT.WEB/SITES"
AZURE_CHANGE_SUFFIXES: Final = (
    "/FUNCTIONS/WRITE",
    "/EXTENSIONS/WRITE",
    "/SOURCECONTROLS/WRITE",
    "/DEPLOYMENTS/WRITE",
    "/SYNCFUNCTIONTRIGGERS/ACTION",
    "/CONFIG/WRITE",
    "/APPSETTINGS/WRITE",
)
AZURE_CHANGE_EXACT: Final = ("MICROSOFT.WEB/SITES/WRITE", "MICROSOFT.WEB/SITES/SLOTS/WRITE")
AZURE_KEY_SUFFIXES: Final = ("/FUNCTIONKEYS/WRITE", "/FUNCTIONS/KEYS/WRITE", "/SYSTEMKEYS/WRITE")
AZURE_HOST_KEYS_RE: Final = "(?i)^MICROSOFT[.]WEB/SITES(/SLOTS)?/HOST/[^/]+/KEYS/WRITE$"
AZURE_ANON_RE: Final = '(?i)"authLevel"\\s*:\\s*"anonymous"'


def glob_regex(glob: str) -> str:
    """A deployer glob (``*`` any run, ``?`` one character) as an anchored regex."""
    out = []
    for ch in glob:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "^" + "".join(out) + "$"


CLOUD_LOSSES: Final = (
    "the engine's history: a principal that made such changes on established_days distinct "
    "days is established and stays quiet; a per-event rule cannot count days, so every "
    "change by a principal not in the deployer list fires (list your pipelines with "
    "`relayhunt export --config tuning.yaml`, top-level `deployers`)",
    "one finding per account and target with the actors, addresses, tools and details "
    "aggregated; here one alert per record",
)
