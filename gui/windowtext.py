"""Error text for a window user: advice that names a CLI command becomes where to click.

Core's errors and the plugins themselves end their messages with what to do, written for
the terminal ("grant it with --grant fs-read=HOSTDIR:/data", "(start one with `wasmbay
canary ID PATH --percent N`)"). A window user has no command to type, so each clause
that names one is replaced by the place in the window that does the same, or dropped
when the window has none. Everything else is left as it was.
"""

from __future__ import annotations

import re

_VERBS = ("config|enable|disable|canary|list|info|cache|install|uninstall|grant|revoke|"
          "auto-rollback|promote|rollback|verify|serve|build|new|logs|call")
#: A clause names the CLI when it quotes a ``wasmbay`` command or a ``--flag``.
_CLI = re.compile(rf"`wasmbay\b|\bwasmbay (?:{_VERBS})\b|(?:^|[\s`(])--[a-z]")

#: (what the clause mentions, what a window user does instead); the first match wins.
_ADVICE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"fs-(?:read|write)|\bdirectory\b|\bfolder\b"),
     "grant the folder in the Permissions tab"),
    (re.compile(r"\bnetwork\b"), "allow Network in the Permissions tab"),
    (re.compile(r"\bmemory\b"), "raise its memory limit in the Permissions tab"),
    (re.compile(r"\btimeout\b"), "raise its time limit in the Permissions tab"),
    (re.compile(r"--grant|\bfuel\b"), "change its limits in the Permissions tab"),
    (re.compile(r"\bconfig\b|--config|--secret"), "set it in the Configuration tab"),
    (re.compile(r"wasmbay enable"), "enable it with Ctrl+E"),
    (re.compile(r"wasmbay canary|--percent"), "start one with Start canary… in the Versions tab"),
    (re.compile(r"--accept-requested"), "review them in the install dialog"),
)

_PARENS = re.compile(r"\s*\(([^()]*)\)")
#: Where one piece of advice ends and the next begins.
_SEPARATORS = re.compile(r"(;\s+|:\s+|,\s+or\s+|\s+or\s+(?=--|`))")


def _advice(clause: str) -> str:
    return next((words for pattern, words in _ADVICE if pattern.search(clause)), "")


def _clauses(text: str) -> str:
    parts = _SEPARATORS.split(text)  # clause, separator, clause, ...
    out: list[str] = []
    said: set[str] = set()
    for i in range(0, len(parts), 2):
        clause, sep = parts[i], parts[i - 1] if i else ""
        if _CLI.search(clause):
            advice = _advice(clause)
            if not advice or advice in said:
                continue  # nothing in the window does it, or it was just said
            said.add(advice)
            clause = advice
        out.append(sep + clause if out else clause)
    return "".join(out).strip()


def for_window(text: str) -> str:
    """``text`` with every piece of CLI advice replaced by what to do in the window."""
    if not _CLI.search(text):
        return text

    def parens(m: re.Match[str]) -> str:
        if not _CLI.search(m.group(1)):
            return m.group(0)
        inner = _clauses(m.group(1))
        return f" ({inner})" if inner else ""

    return _clauses(_PARENS.sub(parens, text))
