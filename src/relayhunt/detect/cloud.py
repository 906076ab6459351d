"""RH-CP-001..005: the serverless control plane, from cloud audit logs (``cloud_obs``).

Every source page asks for "monitoring cloud audit logs for unauthorized modifications to
serverless functions within environments the defender controls": T1584.007 is an
attacker taking over a function the defender owns, T1583.007 one standing up their own.
These rules read the ``cloud_audit`` table (CloudTrail, Google Cloud audit logs, Azure
Activity Log, Cloudflare audit logs; see docs/formats.md) and return nothing when it is
empty.

Who is expected to deploy: a principal (``actor_principal``: the role ARN behind a role
session, a user ARN, an e-mail) is *established* for a kind of change in an account when
it made that kind of change on at least ``established_days`` distinct UTC days in the
data; a principal matching a ``deployers`` glob (CI roles, IaC service accounts; set once
for all of these rules with the top-level ``deployers`` list of the tuning file) is
always expected. Neither fires RH-CP-001..004.

Cloud findings name the account (AWS account, Google Cloud project, Azure subscription,
Cloudflare account) in ``host_name`` and the principal in ``user_name``; the function's
public hostname, where known, is ``destination_domain`` and its catalog match fills
``serverless_*``; where no hostname is known ``serverless_tenant`` holds the function
(script, service, site) name. The process columns are empty.
"""

from __future__ import annotations

from collections.abc import Iterable

from relayhunt.detect.base import EVIDENCE_AGG, Rule, Thresholds, first, rule_columns, sql_str

CHANGE_ACTIONS = ("function.update_code", "function.update_config", "function.update")
CREATE_ACTIONS = ("function.create", "api.create")
# What a denied call on a function API looks like in each provider's log.
DENIED = (
    "(?i)^(AccessDenied|AccessDeniedException|UnauthorizedOperation|"
    "Client\\.UnauthorizedOperation|AuthorizationFailed|Forbidden|PERMISSION_DENIED|"
    "UNAUTHENTICATED|7|16|401|403)$"
)

_COMMON_THRESHOLDS: dict[str, object] = {"established_days": 2, "deployers": ()}


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(sql_str(v) for v in values) + ")"


def _like(glob: str) -> str:
    out = []
    for c in glob.lower():
        if c == "*":
            out.append("%")
        elif c == "?":
            out.append("_")
        elif c in ("%", "_", "!"):
            out.append("!" + c)
        else:
            out.append(c)
    return "".join(out)


def deployer_sql(globs: Iterable[object]) -> str:
    """SQL boolean: the record's principal (or logged identity) matches a deployer glob
    (case-insensitive; ``*`` any run of characters, ``?`` one)."""
    tests = [
        f"coalesce(lower({col}) LIKE {sql_str(_like(str(g)))} ESCAPE '!', false)"
        for g in globs
        if str(g).strip()
        for col in ("actor_principal", "actor_name")
    ]
    return "(" + " OR ".join(tests) + ")" if tests else "false"


# The findings columns every cloud rule fills the same way from its aggregate ``g``.
CLOUD_CONTEXT = """host_name, user_name,
      NULL::VARCHAR AS process_entity_id, NULL::BIGINT AS process_pid,
      NULL::VARCHAR AS process_executable, NULL::VARCHAR AS process_name,
      NULL::VARCHAR AS process_command_line, NULL::VARCHAR AS process_parent_executable,
      NULL::VARCHAR AS process_parent_name, NULL::VARCHAR AS process_parent_command_line,
      NULL::VARCHAR AS process_category, destination_domain,
      CASE WHEN destination_domain IS NOT NULL THEN 'record' END
          AS destination_domain_origin,
      NULL::VARCHAR AS destination_ip, NULL::INTEGER AS destination_port,
      serverless_platform, serverless_provider, serverless_kind,
      coalesce(serverless_tenant, target_name) AS serverless_tenant,
      first_seen, last_seen, event_count, evidence"""

# Aggregates over cloud_obs rows of one target; single values from the earliest record
# (first()), so the same records give the same finding whatever the thread timing.
TARGET_AGG = f"""
      {first("target_name")} FILTER (WHERE target_name IS NOT NULL) AS target_name,
      {first("target_id")} FILTER (WHERE target_id IS NOT NULL) AS target_id,
      {first("destination_domain")} FILTER (WHERE destination_domain IS NOT NULL)
          AS destination_domain,
      {first("serverless_platform")} AS serverless_platform,
      {first("serverless_provider")} AS serverless_provider,
      {first("serverless_kind")} FILTER (WHERE serverless_kind IS NOT NULL)
          AS serverless_kind,
      {first("serverless_tenant")} FILTER (WHERE serverless_tenant IS NOT NULL)
          AS serverless_tenant,
      {first("actor_principal")} AS user_name,
      list(DISTINCT actor_principal ORDER BY actor_principal)
          FILTER (WHERE actor_principal IS NOT NULL)[1:10] AS actors,
      list(DISTINCT source_ip ORDER BY source_ip)
          FILTER (WHERE source_ip IS NOT NULL)[1:10] AS source_ips,
      list(DISTINCT left(coalesce(user_agent_original, client_app), 120)
           ORDER BY left(coalesce(user_agent_original, client_app), 120))
          FILTER (WHERE coalesce(user_agent_original, client_app) IS NOT NULL)[1:5]
          AS user_agents,
      list(DISTINCT user_agent_class ORDER BY user_agent_class)
          FILTER (WHERE user_agent_class IS NOT NULL) AS tools,
      list(DISTINCT event_action ORDER BY event_action)[1:10] AS actions,
      list(DISTINCT change_detail ORDER BY change_detail)
          FILTER (WHERE change_detail IS NOT NULL)[1:10] AS details,
      min(timestamp) AS first_seen, max(timestamp) AS last_seen, count(*) AS event_count,
      {EVIDENCE_AGG} AS evidence"""


def _replace_once(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced; ``old`` must occur exactly once."""
    if text.count(old) != 1:
        raise ValueError(f"expected one {old!r}")
    return text.replace(old, new)


# An actor's calls across targets: no single target name or tenant.
_ACTOR_TARGET_AGG = _replace_once(
    _replace_once(
        TARGET_AGG,
        first("target_name") + " FILTER (WHERE target_name IS NOT NULL) AS target_name",
        "NULL::VARCHAR AS target_name",
    ),
    first("serverless_tenant") + " FILTER (WHERE serverless_tenant IS NOT NULL)",
    "NULL::VARCHAR",
)
_TARGET_KEY = "coalesce(target_id, target_name, destination_domain, '(unknown target)')"
_ACTOR = "coalesce(actor_principal, actor_name, actor_id, '(unknown actor)')"
_DAY = "CAST(timestamp AS DATE)"
# Every call of the group came through an infrastructure-as-code tool (CloudFormation,
# SAM, CDK, Terraform, Pulumi, Bicep ... by user agent): most likely a deployment whose
# role is not listed yet, so RH-CP-001 and RH-CP-003 report it low, saying so.
_IAC_ONLY = "(tools = ['iac'])"
_IAC_NOTE = (
    f"CASE WHEN {_IAC_ONLY} THEN '; every call came through an infrastructure-as-code "
    "tool, which looks like a deployment: list its role in deployers if it is one' "
    "ELSE '' END"
)

# Text pieces of reasons.
_WHO = "coalesce(user_name, 'an unknown principal')"
_WHAT = "coalesce(target_name, target_id, 'a function')"
_WHERE = (
    "' in ' || CASE cloud_provider WHEN 'aws' THEN 'AWS account ' WHEN 'gcp' THEN "
    "'project ' WHEN 'azure' THEN 'subscription ' ELSE 'Cloudflare account ' END "
    "|| coalesce(host_name, '?')"
)
_TOOLS = (
    # a user agent's first product token, or a client application's whole name
    "CASE WHEN len(user_agents) > 0 THEN ' with ' || CASE WHEN contains(user_agents[1], '/')"
    " THEN split_part(user_agents[1], ' ', 1) ELSE user_agents[1] END ELSE '' END"
    " || CASE WHEN len(source_ips) > 0 THEN ' from ' || array_to_string(source_ips, ', ')"
    " ELSE '' END"
)
_PERIOD = (
    "' at ' || strftime(first_seen, '%Y-%m-%d %H:%M:%S') || CASE WHEN last_seen > first_seen "
    "THEN ' to ' || strftime(last_seen, '%Y-%m-%d %H:%M:%S') ELSE '' END || ' UTC'"
)
_STATS_COMMON = """provider := cloud_provider, account := host_name, actors := actors,
      target := target_name, target_id := target_id, actions := actions,
      details := details, source_ips := source_ips, user_agents := user_agents,
      tools := tools"""


# A record ``o`` and its principal's row ``e`` of an ``est`` CTE (same provider, account
# and principal), and the deployer test on ``o``'s columns: shared by RH-CP-001..003.
_SAME_ACTOR = f"""e.cloud_provider = o.cloud_provider
                AND e.cloud_account_id IS NOT DISTINCT FROM o.cloud_account_id
                AND e.actor_key = {_ACTOR.replace("actor_", "o.actor_")}"""


def _deployer_o(t: Thresholds) -> str:
    """:func:`deployer_sql` over the columns of the record aliased ``o``."""
    return deployer_sql(t["deployers"]).replace("actor_", "o.actor_")


def _established(t: Thresholds, actions: tuple[str, ...], name: str) -> str:
    """CTE ``<name>``: per (provider, account, principal), the distinct days with a
    successful action of ``actions``."""
    return f"""{name} AS (
      SELECT cloud_provider, cloud_account_id, {_ACTOR} AS actor_key,
             count(DISTINCT {_DAY}) AS days
      FROM cloud_obs
      WHERE action_normalized IN {_in(actions)} AND event_outcome = 'success'
      GROUP BY ALL)"""


# -- RH-CP-001 ----------------------------------------------------------------------------

ID_CHANGE = "RH-CP-001"
NAME_CHANGE = "Serverless function code or configuration changed by an unexpected principal"


def build_change(t: Thresholds) -> str:
    return f"""
    WITH {_established(t, CHANGE_ACTIONS, "est")},
    hits AS (
      SELECT o.*, e.days AS actor_days
      FROM cloud_obs o
      JOIN est e ON {_SAME_ACTOR}
      WHERE o.action_normalized IN {_in(CHANGE_ACTIONS)} AND o.event_outcome = 'success'
        AND e.days < {int(t["established_days"])}
        AND NOT {_deployer_o(t)}
    ),
    g AS (
      SELECT cloud_account_id AS host_name, cloud_provider, {_TARGET_KEY} AS tkey,
             {TARGET_AGG},
             bool_or(action_normalized IN ('function.update_code', 'function.update'))
                 AS code,
             bool_or(contains(coalesce(change_detail, ''), 'layers')) AS layers,
             bool_or(contains(coalesce(change_detail, ''), 'environment')) AS environment,
             max(actor_days) AS actor_days
      FROM hits GROUP BY host_name, cloud_provider, tkey
    ),
    s AS (
      SELECT *, CASE WHEN {_IAC_ONLY} THEN 'low' WHEN code OR layers THEN 'high'
                     ELSE 'medium' END AS severity,
             CASE WHEN {_IAC_ONLY} THEN 'low' ELSE 'medium' END AS confidence
      FROM g
    )
    SELECT {rule_columns(ID_CHANGE, NAME_CHANGE, "default", TECH_CHANGE)},
      severity, confidence,
      rh_score(severity, confidence,
               CASE WHEN list_has_any(tools, ['cli', 'sdk']) THEN 5 ELSE 0 END) AS score,
      {CLOUD_CONTEXT},
      {_WHO} || ' ' || CASE WHEN code THEN 'replaced the code of '
                            WHEN layers THEN 'attached layers to '
                            WHEN environment THEN 'changed the environment of '
                            ELSE 'changed the configuration of ' END
        || {_WHAT} || ' (' || serverless_platform || ')' || {_WHERE}
        || {_PERIOD} || {_TOOLS}
        || CASE WHEN len(details) > 0 THEN ' [' || array_to_string(details, '; ') || ']'
                ELSE '' END
        || '; this principal is not a listed deployer and made such changes on only '
        || actor_days || ' day(s) in the data' || {_IAC_NOTE} || '.' AS reason,
      to_json(struct_pack({_STATS_COMMON}, code := code, layers := layers,
                          environment := environment,
                          actor_change_days := actor_days))::VARCHAR AS stats
    FROM s
    """


TECH_CHANGE = ("T1584.007", "T1648")

RULE_CHANGE = Rule(
    id=ID_CHANGE,
    name=NAME_CHANGE,
    techniques=TECH_CHANGE,
    severity="high",
    confidence="medium",
    description=(
        "Lambda UpdateFunctionCode / UpdateFunctionConfiguration (layers, environment, "
        "role, handler), Cloud Functions / Cloud Run updates, Azure Microsoft.Web/sites "
        "writes and deployments, Worker script uploads: by a principal that is not a "
        "listed deployer and has made such changes on fewer than established_days days "
        "in the data. High for new code or layers, medium for other configuration, low "
        "when every call came through an infrastructure-as-code tool (CloudFormation, "
        "Terraform ... by user agent)."
    ),
    build=build_change,
    thresholds=dict(_COMMON_THRESHOLDS),
    false_positives=(
        "A developer hot-fixing a function by hand (list the role or allowlist the user)",
        "A new CI pipeline on its first day (add it to deployers)",
    ),
)


# -- RH-CP-002 ----------------------------------------------------------------------------

ID_PUBLIC = "RH-CP-002"
NAME_PUBLIC = "Serverless function made publicly invokable"
TECH_PUBLIC = ("T1584.007", "T1583.007")
_PUBLIC = """(action_normalized = 'function.public_access'
    OR (cloud_provider = 'cloudflare' AND action_normalized = 'route.create'))"""


def build_public(t: Thresholds) -> str:
    return f"""
    WITH est AS (
      SELECT cloud_provider, cloud_account_id, {_ACTOR} AS actor_key,
             count(DISTINCT {_DAY}) AS days
      FROM cloud_obs WHERE {_PUBLIC} AND event_outcome = 'success' GROUP BY ALL
    ),
    hits AS (
      SELECT o.*, e.days AS actor_days
      FROM cloud_obs o
      JOIN est e ON {_SAME_ACTOR}
      WHERE {
        _PUBLIC.replace("action_normalized", "o.action_normalized").replace(
            "cloud_provider =", "o.cloud_provider ="
        )
    }
        AND o.event_outcome = 'success'
        AND e.days < {int(t["established_days"])}
        AND NOT {_deployer_o(t)}
    ),
    g AS (
      SELECT cloud_account_id AS host_name, cloud_provider, {_TARGET_KEY} AS tkey,
             {TARGET_AGG},
             bool_and(action_normalized = 'route.create') AS only_routes,
             bool_and(starts_with(coalesce(change_detail, ''), 'function key written'))
                 AS only_keys,
             max(actor_days) AS actor_days
      FROM hits GROUP BY host_name, cloud_provider, tkey
    ),
    s AS (
      SELECT *, CASE WHEN only_routes OR cloud_provider = 'cloudflare' THEN 'medium'
                     ELSE 'high' END AS severity,
             CASE WHEN only_routes OR only_keys THEN 'medium' ELSE 'high' END AS confidence
      FROM g
    )
    SELECT {rule_columns(ID_PUBLIC, NAME_PUBLIC, "default", TECH_PUBLIC)},
      severity, confidence,
      rh_score(severity, confidence,
               CASE WHEN list_has_any(tools, ['cli', 'sdk']) THEN 5 ELSE 0 END) AS score,
      {CLOUD_CONTEXT},
      {_WHO} || CASE WHEN only_keys
          THEN ' gave ' || {_WHAT} || ' (' || serverless_platform || ') a new invocation key'
          ELSE ' opened ' || {_WHAT} || ' (' || serverless_platform || ') to anyone' END
        || CASE WHEN len(details) > 0 THEN ' (' || array_to_string(details, '; ') || ')'
                ELSE '' END
        || {_WHERE} || {_PERIOD} || {_TOOLS}
        || CASE WHEN destination_domain IS NOT NULL
                THEN '; public at ' || destination_domain ELSE '' END
        || '.' AS reason,
      to_json(struct_pack({_STATS_COMMON},
                          actor_public_days := actor_days))::VARCHAR AS stats
    FROM s
    """


RULE_PUBLIC = Rule(
    id=ID_PUBLIC,
    name=NAME_PUBLIC,
    techniques=TECH_PUBLIC,
    severity="high",
    confidence="high",
    description=(
        "Lambda CreateFunctionUrlConfig / UpdateFunctionUrlConfig with AuthType NONE or "
        "AddPermission to principal *, Google Cloud SetIamPolicy granting allUsers / "
        "allAuthenticatedUsers an invoker role, Azure anonymous authLevel, CORS * or "
        "new function keys, a new Worker route or workers.dev subdomain: an attacker's "
        "way to reach a planted or hijacked function from anywhere. Cloudflare changes "
        "are medium (Workers are public by design)."
    ),
    build=build_public,
    thresholds=dict(_COMMON_THRESHOLDS),
    false_positives=("Public webhooks and APIs deployed by hand (list the deployer)",),
)


# -- RH-CP-003 ----------------------------------------------------------------------------

ID_CREATE = "RH-CP-003"
NAME_CREATE = "Serverless function or API created outside the usual deployers"
TECH_CREATE = ("T1583.007", "T1584.007", "T1648")


def build_create(t: Thresholds) -> str:
    est_days = int(t["established_days"])
    return f"""
    WITH {_established(t, CREATE_ACTIONS, "est")},
    active AS (
      SELECT cloud_provider, cloud_account_id, {_ACTOR} AS actor_key,
             count(DISTINCT {_DAY}) AS active_days
      FROM cloud_obs GROUP BY ALL
    ),
    ip_days AS (
      SELECT cloud_provider, cloud_account_id, {_ACTOR} AS actor_key, source_ip,
             count(DISTINCT {_DAY}) AS days
      FROM cloud_obs WHERE source_ip IS NOT NULL GROUP BY ALL
    ),
    hits AS (
      SELECT o.*, e.days AS actor_days, a.active_days,
             e.days >= {est_days} AS established,
             a.active_days >= {est_days} AND coalesce(i.days, 0) = 1 AS new_ip
      FROM cloud_obs o
      JOIN est e ON {_SAME_ACTOR}
      JOIN active a ON a.cloud_provider = o.cloud_provider
                AND a.cloud_account_id IS NOT DISTINCT FROM o.cloud_account_id
                AND a.actor_key = e.actor_key
      LEFT JOIN ip_days i ON i.cloud_provider = o.cloud_provider
                AND i.cloud_account_id IS NOT DISTINCT FROM o.cloud_account_id
                AND i.actor_key = e.actor_key AND i.source_ip = o.source_ip
      WHERE o.action_normalized IN {_in(CREATE_ACTIONS)} AND o.event_outcome = 'success'
        AND NOT {_deployer_o(t)}
    ),
    g AS (
      SELECT cloud_account_id AS host_name, cloud_provider, {_TARGET_KEY} AS tkey,
             {TARGET_AGG},
             bool_and(established) AS established, bool_or(new_ip) AS new_ip,
             max(actor_days) AS actor_days
      FROM hits GROUP BY host_name, cloud_provider, tkey
      HAVING NOT bool_and(established) OR bool_or(new_ip)
    ),
    s AS (
      SELECT *,
        CASE WHEN {_IAC_ONLY} AND NOT new_ip THEN 'low'
             WHEN list_has_any(tools, ['cli', 'sdk']) OR new_ip THEN 'high'
             ELSE 'medium' END AS severity,
        CASE WHEN {_IAC_ONLY} THEN 'low'
             WHEN list_has_any(tools, ['cli', 'sdk']) THEN 'high' ELSE 'medium' END
          AS confidence
      FROM g
    )
    SELECT {rule_columns(ID_CREATE, NAME_CREATE, "default", TECH_CREATE)},
      severity, confidence, rh_score(severity, confidence, 0) AS score,
      {CLOUD_CONTEXT},
      {_WHO} || ' created ' || {_WHAT} || ' (' || serverless_platform || ')' || {_WHERE}
        || {_PERIOD} || {_TOOLS}
        || '; ' || CASE WHEN NOT established
                        THEN 'not a listed deployer, creating on only ' || actor_days
                             || ' day(s) in the data'
                        ELSE 'an established deployer, but from a source address it '
                             || 'never used before' END
        || CASE WHEN list_has_any(tools, ['cli', 'sdk'])
                THEN ', with a command-line tool or SDK' ELSE '' END
        || {_IAC_NOTE} || '.' AS reason,
      to_json(struct_pack({_STATS_COMMON}, established := established, new_ip := new_ip,
                          actor_create_days := actor_days))::VARCHAR AS stats
    FROM s
    """


RULE_CREATE = Rule(
    id=ID_CREATE,
    name=NAME_CREATE,
    techniques=TECH_CREATE,
    severity="medium",
    confidence="medium",
    description=(
        "A function, Worker script or API created by a principal that is not a listed "
        "deployer and created functions on fewer than established_days days in the "
        "data, or by an established one from a source address it never used before. "
        "High with a CLI or SDK user agent (aws-cli, Boto3, gcloud, azure-cli, wrangler) "
        "or a new address; low when every call came through an infrastructure-as-code "
        "tool from a known address."
    ),
    build=build_create,
    thresholds=dict(_COMMON_THRESHOLDS),
    false_positives=("A developer's first function in a sandbox account",),
)


# -- RH-CP-004 ----------------------------------------------------------------------------

ID_ENUM = "RH-CP-004"
NAME_ENUM = "Function enumeration followed by invocation from a CLI or SDK"
TECH_ENUM = ("T1648", "T1584.007", "T1526")


def build_enum(t: Thresholds) -> str:
    return f"""
    WITH inv AS (
      SELECT *, {_ACTOR} AS actor_key FROM cloud_obs
      WHERE action_normalized = 'function.invoke' AND event_outcome = 'success'
        AND user_agent_class IN ('cli', 'sdk')
        AND NOT {deployer_sql(t["deployers"])}
    ),
    lst AS (
      SELECT *, {_ACTOR} AS actor_key FROM cloud_obs
      WHERE action_normalized = 'function.list'
    ),
    pairs AS (
      SELECT i.cloud_provider, i.cloud_account_id, i.actor_key, i.timestamp AS invoked,
             l.timestamp AS listed, {
        _TARGET_KEY.replace("target_", "i.target_").replace("destination_", "i.destination_")
    } AS tkey,
             i.log_file_path AS i_file, i.log_line AS i_line, i.log_record AS i_record,
             l.log_file_path AS l_file, l.log_line AS l_line, l.log_record AS l_record
      FROM inv i JOIN lst l
        ON l.cloud_provider = i.cloud_provider
       AND l.cloud_account_id IS NOT DISTINCT FROM i.cloud_account_id
       AND l.actor_key = i.actor_key
       AND l.timestamp <= i.timestamp
       AND l.timestamp >= i.timestamp - INTERVAL {int(t["window_s"])} SECOND
    ),
    est AS (
      SELECT cloud_provider, cloud_account_id, actor_key,
             count(DISTINCT CAST(invoked AS DATE)) AS days
      FROM pairs GROUP BY ALL
    ),
    keep AS (
      SELECT p.* FROM pairs p JOIN est USING (cloud_provider, cloud_account_id, actor_key)
      WHERE est.days < {int(t["established_days"])}
    ),
    ev AS (
      SELECT o.*, k.tkey FROM cloud_obs o JOIN (
          SELECT DISTINCT tkey, i_file AS f, i_line AS ln, i_record AS rec FROM keep
          UNION SELECT DISTINCT tkey, l_file, l_line, l_record FROM keep) k
        ON o.log_file_path = k.f AND o.log_line IS NOT DISTINCT FROM k.ln
       AND o.log_record IS NOT DISTINCT FROM k.rec
    ),
    g AS (
      SELECT cloud_account_id AS host_name, cloud_provider, tkey,
             {TARGET_AGG},
             count(*) FILTER (WHERE action_normalized = 'function.list') AS lists,
             count(*) FILTER (WHERE action_normalized = 'function.invoke') AS invokes
      FROM ev GROUP BY host_name, cloud_provider, tkey
    ),
    s AS (SELECT *, 'medium' AS severity, 'medium' AS confidence FROM g)
    SELECT {rule_columns(ID_ENUM, NAME_ENUM, "default", TECH_ENUM)},
      severity, confidence, rh_score(severity, confidence, 5) AS score,
      {CLOUD_CONTEXT},
      {_WHO} || ' listed the functions (' || lists || ' time(s)) and then invoked '
        || {_WHAT} || ' (' || serverless_platform || ', ' || invokes || ' time(s)) within '
        || rh_duration(epoch(last_seen) - epoch(first_seen)) || {_WHERE} || {_PERIOD}
        || {_TOOLS} || '.' AS reason,
      to_json(struct_pack({_STATS_COMMON}, lists := lists,
                          invokes := invokes))::VARCHAR AS stats
    FROM s
    """


RULE_ENUM = Rule(
    id=ID_ENUM,
    name=NAME_ENUM,
    techniques=TECH_ENUM,
    severity="medium",
    confidence="medium",
    description=(
        "The same principal lists the account's functions (ListFunctions, "
        "ListServices ...) and invokes one (Invoke, CallFunction) within window_s, with "
        "a CLI or SDK user agent: discovery followed by execution, the sources' aws-cli "
        "test. Lambda invocations are CloudTrail data events: the trail must log them. "
        "Quiet for deployers and for a pattern seen on established_days days."
    ),
    build=build_enum,
    thresholds={**_COMMON_THRESHOLDS, "window_s": 3_600},
    false_positives=("Smoke tests run by hand after a deployment",),
)


# -- RH-CP-005 ----------------------------------------------------------------------------

ID_DENIED = "RH-CP-005"
NAME_DENIED = "Repeated access denied on function APIs"
TECH_DENIED = ("T1526", "T1584.007")


def build_denied(t: Thresholds) -> str:
    return f"""
    WITH f AS (
      SELECT *, {_ACTOR} AS actor_key FROM cloud_obs
      WHERE event_outcome = 'failure'
        AND (regexp_matches(coalesce(error_code, ''), '{DENIED}')
             OR regexp_matches(coalesce(error_message, ''),
                               '(?i)(not authorized|access denied|permission denied|'
                               || 'does not have authorization)'))
    ),
    w AS (
      SELECT *, count(*) OVER (
                  PARTITION BY cloud_provider, cloud_account_id, actor_key
                  ORDER BY timestamp
                  RANGE BETWEEN INTERVAL {int(t["window_s"])} SECOND PRECEDING
                  AND CURRENT ROW) AS in_window
      FROM f
    ),
    actors AS (
      SELECT cloud_provider, cloud_account_id, actor_key, max(in_window) AS peak
      FROM w GROUP BY ALL HAVING max(in_window) >= {int(t["min_failures"])}
    ),
    g AS (
      SELECT cloud_account_id AS host_name, cloud_provider, actor_key,
             {_ACTOR_TARGET_AGG},
             list(DISTINCT target_name ORDER BY target_name)
                 FILTER (WHERE target_name IS NOT NULL)[1:10] AS targets,
             list(DISTINCT error_code ORDER BY error_code)
                 FILTER (WHERE error_code IS NOT NULL) AS errors,
             count(DISTINCT event_action) AS distinct_actions,
             max(a.peak) AS peak
      FROM f JOIN actors a USING (cloud_provider, cloud_account_id, actor_key)
      GROUP BY host_name, cloud_provider, actor_key
    ),
    s AS (
      SELECT * EXCLUDE (destination_domain), NULL::VARCHAR AS destination_domain,
             CASE WHEN distinct_actions >= 3 THEN 'medium' ELSE 'low' END AS severity,
             'medium' AS confidence
      FROM g
    )
    SELECT {rule_columns(ID_DENIED, NAME_DENIED, "default", TECH_DENIED)},
      severity, confidence, rh_score(severity, confidence, 0) AS score,
      {CLOUD_CONTEXT},
      {_WHO} || ' was denied ' || event_count || ' function API call(s) ('
        || array_to_string(actions, ', ') || '; up to ' || peak || ' within '
        || rh_duration({int(t["window_s"])}) || ')' || {_WHERE} || {_PERIOD} || {_TOOLS}
        || CASE WHEN len(targets) > 0 THEN ' on ' || array_to_string(targets, ', ')
                ELSE '' END || '.' AS reason,
      to_json(struct_pack({_STATS_COMMON}, targets := targets, errors := errors,
                          peak_in_window := peak))::VARCHAR AS stats
    FROM s
    """


RULE_DENIED = Rule(
    id=ID_DENIED,
    name=NAME_DENIED,
    techniques=TECH_DENIED,
    severity="medium",
    confidence="medium",
    description=(
        "At least min_failures denied calls (AccessDenied, AuthorizationFailed, "
        "PERMISSION_DENIED, 403 ...) on function APIs by one principal within window_s: "
        "someone probing what a stolen credential may do. Medium for three or more "
        "distinct operations, else low."
    ),
    build=build_denied,
    thresholds={"min_failures": 5, "window_s": 3_600},
    false_positives=("A misconfigured pipeline retrying a call it lacks permission for",),
)

RULES = (RULE_CHANGE, RULE_PUBLIC, RULE_CREATE, RULE_ENUM, RULE_DENIED)

__all__ = [
    "RULES",
    "RULE_CHANGE",
    "RULE_CREATE",
    "RULE_DENIED",
    "RULE_ENUM",
    "RULE_PUBLIC",
    "deployer_sql",
]
