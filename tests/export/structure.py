"""A structural checker for the exports that have no parser we can run offline (SPL,
LogScale, YARA-L, Sumo Logic). It is NOT the vendors' parser: it tokenizes each language's
literals and comments, and checks what a parser would reject first or what would silently
change a query's meaning:

- every string, regex and raw-string literal closes; brackets balance; no stray quote;
- every pipeline command (SPL, Sumo) and every function called (all four) is one the
  vendor documents, from the lists below (each with its source); an unknown name fails;
- every regex literal compiles under Python ``re`` (an approximation of PCRE, RE2 and
  java.util.regex: the catalog's regexes use the subset the three share);
- the regexes used as filters can be read back for the hostname tests.

Offline parsers looked for (2026-11): PyPI ``splparser`` 0.2.0 is a 2014 research parser
for Python 2 covering half the SPL commands (no ``mvmap``, no ``addinfo``); no maintained
SPL, LogScale (CQL), Sumo Logic or YARA-L parser is published on PyPI or npm (Google
validates YARA-L only through the SecOps API; CrowdStrike and Sumo Logic only in their
consoles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# -- known names, per language -------------------------------------------------------------


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/ListOfSearchCommands
SPL_COMMANDS = _names(
    """
    abstract accum addcoltotals addinfo addtotals analyzefields anomalies anomalousvalue
    append appendcols appendpipe arules associate autoregress bin bucket chart cluster
    collect contingency convert correlate datamodel dbinspect dedup delete delta diff
    eval eventcount eventstats extract fieldformat fields fieldsummary filldown fillnull
    findtypes foreach format from gauge geom geostats head highlight history iconify
    inputcsv inputlookup iplocation join kmeans kvform loadjob localize lookup
    makecontinuous makemv makeresults map metadata metasearch mstats multikv multisearch
    mvcombine mvexpand nomv outlier outputcsv outputlookup predict rangemap rare regex
    relevancy reltime rename replace rest return reverse rex search searchtxn selfjoin
    sendemail set sichart sistats sitimechart sitop sort spath stats strcat streamstats
    table tags tail timechart timewrap top transaction transpose trendline tstats typer
    union uniq untable where x11 xmlkv xmlunescape xpath xyseries
    """
)
# https://docs.splunk.com/Documentation/Splunk/latest/SearchReference/CommonEvalFunctions
# and .../CommonStatsFunctions (stats functions take eval expressions: count(eval(...)))
SPL_FUNCTIONS = _names(
    """
    eval
    abs acos case cidrmatch ceil coalesce commands exact exp false floor hypot if in
    isbool isint isnotnull isnull isnum isstr len like ln log lower ltrim match max md5
    min mvappend mvcount mvdedup mvfilter mvfind mvindex mvjoin mvmap mvrange mvsort
    mvzip now null nullif pi pow printf random relative_time replace round rtrim
    searchmatch sha1 sha256 split sqrt strftime strptime substr time tonumber tostring
    trim true typeof upper urldecode validate avg count dc distinct_count earliest first
    last latest list mean median mode perc range stdev stdevp sum sumsq values var varp
    estdc estdc_error exactperc upperperc p ctime
    """
)
# https://library.humio.com/data-analysis/functions.html
LOGSCALE_FUNCTIONS = _names(
    """
    avg bucket case collect concat count default drop eval fieldstats format formatTime
    groupBy head if in join length lower match max min now parseJson parseTimestamp
    percentile regex rename replace round select selfJoinFilter series sort split start
    end stats stdDev sum table tail test timeChart top upper wildcard coalesce
    """
)
# https://help.sumologic.com/docs/search/search-query-language/search-operators/
# and https://help.sumologic.com/docs/search/search-query-language/math-expressions/
SUMO_OPERATORS = _names(
    """
    log log10 log1p exp sqrt cbrt signum hypot
    as avg count count_distinct count_frequent diff fields fillmissing first formatDate
    if isBlank isEmpty isNull join last limit lookup lower matches max min parse pct
    sort stddev sum timeslice toLowerCase toUpperCase top total transpose urldecode
    where replace concat substring length abs round ceil floor num in compare outlier
    predict
    """
)
# https://cloud.google.com/chronicle/docs/detection/yara-l-2-0-functions
YARAL_FUNCTIONS = _names(
    """
    re.regex re.capture re.replace strings.to_lower strings.to_upper strings.concat
    strings.coalesce strings.contains strings.extract_domain strings.extract_hostname
    strings.base64_decode timestamp.get_timestamp timestamp.current_seconds
    timestamp.get_hour timestamp.get_day_of_week net.ip_in_range_cidr math.abs count
    count_distinct array array_distinct min max sum avg stddev if arrays.length
    arrays.contains
    """
)
# Boolean and membership keywords that may precede a parenthesis in all four languages.
KEYWORDS = frozenset({"and", "or", "not", "in", "by", "as"})
YARAL_SECTIONS = ("meta", "events", "match", "outcome", "condition", "options")


class StructureError(AssertionError):
    """A structural problem in an export."""


@dataclass
class Token:
    kind: str  # "str", "re", "raw", "word", "punct", "field" (SPL 'quoted field')
    text: str  # decoded value for literals, the text otherwise
    line: int


@dataclass
class Lexed:
    tokens: list[Token] = field(default_factory=list)

    def regexes(self) -> list[Token]:
        return [t for t in self.tokens if t.kind in ("re", "raw")]


REGEX_LEAD = re.compile(r"(?:=|\(|,|\bmatches|\bin)\s*$")


def lex(text: str, language: str) -> Lexed:
    """Tokens of an export outside its comments, or :class:`StructureError`."""
    out = Lexed()
    i, line, n = 0, 1, len(text)
    depth: list[tuple[str, int]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
            continue
        if language == "spl" and text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise StructureError(f"line {line}: unterminated ``` comment")
            line += text.count("\n", i, end)
            i = end + 3
            continue
        if language != "spl" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\n":
                    raise StructureError(f"line {line}: string literal runs past the line")
                if text[j] == "\\":
                    if j + 1 >= n:
                        break
                    buf.append(text[j : j + 2])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= n:
                raise StructureError(f"line {line}: unterminated string")
            out.tokens.append(Token("str", _unescape("".join(buf)), line))
            i = j + 1
            continue
        if ch == "'" and language == "spl":
            j = text.find("'", i + 1)
            if j < 0 or "\n" in text[i:j]:
                raise StructureError(f"line {line}: unterminated quoted field name")
            out.tokens.append(Token("field", text[i + 1 : j], line))
            i = j + 1
            continue
        if ch == "`" and language == "yaral":
            j = text.find("`", i + 1)
            if j < 0 or "\n" in text[i:j]:
                raise StructureError(f"line {line}: unterminated raw string")
            out.tokens.append(Token("raw", text[i + 1 : j], line))
            i = j + 1
            continue
        if (
            ch == "/"
            and language in ("logscale", "yaral", "sumo")
            and REGEX_LEAD.search(text[text.rfind("\n", 0, i) + 1 : i])
        ):
            j, buf = i + 1, []
            while j < n and text[j] != "/":
                if text[j] == "\n":
                    raise StructureError(f"line {line}: regex literal runs past the line")
                if text[j] == "\\" and j + 1 < n:
                    buf.append("/" if text[j + 1] == "/" else text[j : j + 2])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= n:
                raise StructureError(f"line {line}: unterminated regex literal")
            out.tokens.append(Token("re", "".join(buf), line))
            i = j + 1
            continue
        if ch in "([{":
            depth.append((ch, line))
            out.tokens.append(Token("punct", ch, line))
            i += 1
            continue
        if ch in ")]}":
            if not depth or depth[-1][0] != pairs[ch]:
                raise StructureError(f"line {line}: unbalanced {ch!r}")
            depth.pop()
            out.tokens.append(Token("punct", ch, line))
            i += 1
            continue
        m = re.match(r"[#@$]?[A-Za-z_][A-Za-z0-9_.]*", text[i:])
        if m:
            out.tokens.append(Token("word", m.group(0), line))
            i += m.end()
            continue
        if ch in "'`":
            raise StructureError(f"line {line}: stray {ch!r}")
        if not ch.isspace():
            out.tokens.append(Token("punct", ch, line))
        i += 1
    if depth:
        raise StructureError(f"unclosed {depth[-1][0]!r} opened on line {depth[-1][1]}")
    return out


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", r"\1", body)


def python_regex(pattern: str) -> re.Pattern[str]:
    """Compile a PCRE / RE2 / Java regex with Python ``re`` (named groups rewritten)."""
    return re.compile(re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern))


def check(text: str, language: str) -> Lexed:
    """Run every structural check on one export; :class:`StructureError` on failure."""
    lexed = lex(text, language)
    toks = lexed.tokens
    for k, t in enumerate(toks):
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        prev = toks[k - 1] if k else None
        calls = (
            nxt is not None
            and nxt.kind == "punct"
            and nxt.text == "("
            and t.text.lower() not in KEYWORDS
        )
        if language == "spl":
            stage = prev is not None and prev.text in ("|",) and prev.kind == "punct"
            sub = prev is not None and prev.text == "[" and t.text == "search"
            if t.kind == "word" and (stage or sub):
                if t.text not in SPL_COMMANDS:
                    raise StructureError(f"line {t.line}: unknown SPL command {t.text!r}")
            elif t.kind == "word" and calls and t.text.lower() not in SPL_FUNCTIONS:
                raise StructureError(f"line {t.line}: unknown SPL function {t.text!r}")
        elif language == "sumo":
            stage = prev is not None and prev.kind == "punct" and prev.text == "|"
            if t.kind == "word" and (stage or calls) and t.text not in SUMO_OPERATORS:
                raise StructureError(f"line {t.line}: unknown Sumo operator {t.text!r}")
        elif language == "logscale":
            if t.kind == "word" and calls and t.text not in LOGSCALE_FUNCTIONS:
                raise StructureError(f"line {t.line}: unknown LogScale function {t.text!r}")
        elif language == "yaral":
            if t.kind == "word" and calls and t.text not in YARAL_FUNCTIONS:
                raise StructureError(f"line {t.line}: unknown YARA-L function {t.text!r}")
            if (
                t.kind == "word"
                and nxt is not None
                and nxt.text == ":"
                and (prev is None or prev.text in ("{", "}") or prev.kind != "word")
                and t.text not in YARAL_SECTIONS
                and not t.text.startswith("$")
            ):
                raise StructureError(f"line {t.line}: unknown YARA-L section {t.text!r}")
    regexes = [(t.line, t.text) for t in lexed.regexes()]
    if language == "spl":  # match(field, "regex") and rex "regex" take strings
        for k, t in enumerate(toks):
            before = [x.text for x in toks[max(0, k - 4) : k]]
            if t.kind == "str" and (
                (len(before) == 4 and before[:2] == ["match", "("] and before[3] == ",")
                or (before and before[-1].startswith("field=") and "rex" in before)
            ):
                regexes.append((t.line, t.text))
    for line, pattern in regexes:
        try:
            python_regex(pattern)
        except re.error as exc:
            raise StructureError(f"line {line}: regex does not compile: {exc}") from exc
    return lexed


def filter_regexes(text: str, language: str) -> list[str]:
    """The regexes an export uses as filters (not extractions or rewrites), as the
    language reads them."""
    toks = lex(text, language).tokens
    out: list[str] = []
    for k, t in enumerate(toks):
        before = [x.text for x in toks[max(0, k - 4) : k]]
        if language in ("logscale", "yaral") and t.kind == "re":
            if before and before[-1] == "=":
                out.append(t.text)
        elif language == "sumo" and t.kind == "re":
            if before and before[-1] == "matches":
                out.append(t.text)
        elif (
            language == "spl"
            and t.kind == "str"
            and len(before) == 4
            and before[:2] == ["match", "("]
            and before[3] == ","
        ):
            out.append(t.text)  # match(<field>, "<regex>")
    return out
