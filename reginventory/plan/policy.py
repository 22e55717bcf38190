"""Cleanup policies: the TOML file, parsed and checked into frozen values (pure, no I/O but reading).

A policy has ``[[rules]]`` that select tags for deletion and keep others, a ``[protect]`` table
that nothing overrides, ``[[copy]]`` rules, and top-level switches::

    untagged = true               # delete untagged manifests (never index children or referrers)
    dangling_referrers = true     # delete signatures/attestations/SBOMs whose subject is gone
    delete_referrers = true       # referrers go with their subject (the default)

    [protect]
    tags = '^latest$'

    [[rules]]
    repositories = '^team-'
    keep_newest = 3

A tag is deleted when some rule selects it and no rule keeps it (Harbor's combination); regular
expressions are searched (``re.search``), so anchor them. tomllib gives no positions, so errors
find the line of the offending key with a small scan of the text; rules are numbered from 1.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reginventory.errors import ConfigError

#: Keys of each table; anything else is refused with its line (a typo must not widen a deletion).
TOP_KEYS = frozenset({"untagged", "dangling_referrers", "delete_referrers", "protect", "rules", "copy"})
PROTECT_KEYS = frozenset({"tags", "repositories"})
RULE_KEYS = frozenset(
    {
        "name", "registries", "repositories", "exclude_repositories", "delete_tags", "older_than_days",
        "keep_newest", "keep_younger_than_days", "keep_tags",
    }
)
COPY_KEYS = frozenset(
    {"name", "registries", "repositories", "exclude_repositories", "tags", "exclude_tags", "destination",
     "destination_repository"}
)
#: The destination repository of a copy, with ``{repository}`` for the source repository's path.
DEFAULT_DESTINATION_REPOSITORY = "{repository}"
_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


@dataclass(frozen=True)
class Pattern:
    """A compiled regular expression with its text (searched, not fully matched)."""

    text: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def search(self, value: str) -> bool:
        return self.regex.search(value) is not None


class RepositoryScope:
    """What a rule or copy rule applies to: registries, repositories, minus excluded ones."""

    registries: Pattern | None
    repositories: Pattern
    exclude_repositories: Pattern | None

    def applies_to(self, registry: str, repository: str) -> bool:
        if self.registries is not None and not self.registries.search(registry):
            return False
        if not self.repositories.search(repository):
            return False
        return self.exclude_repositories is None or not self.exclude_repositories.search(repository)


@dataclass(frozen=True)
class Rule(RepositoryScope):
    """One ``[[rules]]`` table: which repositories, which tags it selects, which it keeps."""

    number: int
    line: int | None
    repositories: Pattern
    name: str | None = None
    registries: Pattern | None = None
    exclude_repositories: Pattern | None = None
    delete_tags: Pattern | None = None  # None: every tag
    older_than_days: float | None = None  # None: any age
    keep_newest: int = 0
    keep_younger_than_days: float | None = None
    keep_tags: Pattern | None = None

    @property
    def label(self) -> str:
        """How a plan names the rule: ``rules[2]`` or ``rules[2] (ci-builds)``."""
        return f"rules[{self.number}]" + (f" ({self.name})" if self.name else "")


    def describe(self) -> str:
        """The rule in words, for plans and reviews."""
        parts = [f"repositories {_quote(self.repositories.text)}"]
        if self.exclude_repositories:
            parts.append(f"except {_quote(self.exclude_repositories.text)}")
        parts.append(f"delete tags {_quote(self.delete_tags.text)}" if self.delete_tags else "delete every tag")
        if self.older_than_days is not None:
            parts.append(f"older than {_days(self.older_than_days)} days")
        keeps = []
        if self.keep_newest:
            keeps.append(f"the newest {self.keep_newest}")
        if self.keep_younger_than_days is not None:
            keeps.append(f"tags younger than {_days(self.keep_younger_than_days)} days")
        if self.keep_tags:
            keeps.append(f"tags {_quote(self.keep_tags.text)}")
        if keeps:
            parts.append("keep " + ", ".join(keeps))
        return "; ".join(parts)


@dataclass(frozen=True)
class CopyRule(RepositoryScope):
    """One ``[[copy]]`` table: tags of matching repositories go to another registry."""

    number: int
    line: int | None
    repositories: Pattern
    destination: str
    destination_repository: str = DEFAULT_DESTINATION_REPOSITORY
    name: str | None = None
    registries: Pattern | None = None
    exclude_repositories: Pattern | None = None
    tags: Pattern | None = None  # None: every tag
    exclude_tags: Pattern | None = None

    @property
    def label(self) -> str:
        return f"copy[{self.number}]" + (f" ({self.name})" if self.name else "")


    def selects(self, tag: str) -> bool:
        if self.tags is not None and not self.tags.search(tag):
            return False
        return self.exclude_tags is None or not self.exclude_tags.search(tag)

    def target(self, repository: str) -> str:
        """The destination repository for a source repository."""
        return self.destination_repository.replace("{repository}", repository)


@dataclass(frozen=True)
class Protect:
    """``[protect]``: tags (and whole repositories) that nothing in the policy can delete."""

    tags: Pattern | None = None
    repositories: Pattern | None = None

    def tag(self, tag: str) -> bool:
        return self.tags is not None and self.tags.search(tag)

    def repository(self, repository: str) -> bool:
        return self.repositories is not None and self.repositories.search(repository)


@dataclass(frozen=True)
class Policy:
    """A parsed policy, with where it came from (path and sha256 of its text) for the plan."""

    rules: tuple[Rule, ...] = ()
    copies: tuple[CopyRule, ...] = ()
    protect: Protect = Protect()
    untagged: bool = False
    dangling_referrers: bool = False
    delete_referrers: bool = True
    path: str = "<policy>"
    sha256: str = ""

    def describe(self) -> dict[str, Any]:
        """The policy as the plan records it: where it is and what it says, never more."""
        return {"path": self.path, "sha256": self.sha256}


# -- parsing --------------------------------------------------------------------------------------


class _Lines:
    """Where each table and key is in the file text: tomllib gives no positions."""

    def __init__(self, text: str) -> None:
        self.headers: dict[tuple[str, int], int] = {}
        self.keys: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        section, index = "", 0
        in_multiline: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            header = _HEADER_RE.match(line)
            if header and not _KEY_RE.match(line):
                section = header.group(2).strip().strip("\"'")
                if header.group(1) == "[[":
                    counts[section] = counts.get(section, 0) + 1
                    index = counts[section]
                else:
                    index = 0
                self.headers.setdefault((section, index), number)
                continue
            key = _KEY_RE.match(line)
            if key:
                self.keys.setdefault((section, index, key.group(1)), number)
                for quote in ('"""', "'''"):
                    if line.count(quote) % 2 == 1:
                        in_multiline = quote

    def find(self, section: str, index: int, key: str | None = None) -> int | None:
        if key is not None and (section, index, key) in self.keys:
            return self.keys[(section, index, key)]
        if key is not None and not section:  # a top-level table: [name] or [[name]]
            for table in ((key, 0), (key, 1)):
                if table in self.headers:
                    return self.headers[table]
        return self.headers.get((section, index))


class _Checker:
    def __init__(self, path: str, lines: _Lines) -> None:
        self.path = path
        self.lines = lines

    def error(self, section: str, index: int, key: str | None, message: str) -> ConfigError:
        line = self.lines.find(section, index, key)
        where = f"{self.path}:{line}" if line else self.path
        what = section + (f"[{index}]" if index else "")
        if key:
            what = f"{what}.{key}" if what else key
        return ConfigError(f"{where}: {what}: {message}" if what else f"{where}: {message}")

    def keys(self, table: dict[str, Any], allowed: frozenset[str], section: str, index: int) -> None:
        for key in table:
            if key not in allowed:
                hint = ""
                if key in ("untagged", "dangling_referrers", "delete_referrers") and section:
                    hint = f"; {key} is a top-level key (put it above the first table)"
                else:
                    close = _closest(key, allowed)
                    if close:
                        hint = f"; did you mean {close}?"
                raise self.error(
                    section, index, key,
                    f"unknown key{hint} (known keys: {', '.join(sorted(allowed))})",
                )

    def pattern(self, table: dict[str, Any], key: str, section: str, index: int, *, required: bool = False) -> Pattern | None:
        if key not in table:
            if required:
                raise self.error(section, index, None, f"{key} is required (a regular expression)")
            return None
        value = table[key]
        if not isinstance(value, str):
            raise self.error(section, index, key, f"expected a regular expression in quotes, got {_type(value)}")
        try:
            return Pattern(value, re.compile(value))
        except re.error as exc:
            position = f" at position {exc.pos}" if exc.pos is not None else ""
            raise self.error(section, index, key, f"bad regex {value!r}: {exc.msg}{position}") from None

    def number(self, table: dict[str, Any], key: str, section: str, index: int, *, integer: bool = False) -> Any:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            kind = "an integer" if integer else "a number of days"
            raise self.error(section, index, key, f"expected {kind}, got {_type(value)} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(section, index, key, f"expected a finite number, got {value!r}")
        if value < 0:
            raise self.error(section, index, key, f"must be 0 or more, got {value!r}")
        return value

    def string(self, table: dict[str, Any], key: str, section: str, index: int) -> str | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error(section, index, key, f"expected a non-empty string, got {_type(value)}")
        return value

    def boolean(self, table: dict[str, Any], key: str, default: bool) -> bool:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            raise self.error("", 0, key, f"expected true or false, got {_type(value)} {value!r}")
        return value


def parse_policy(text: str, path: str = "policy.toml") -> Policy:
    """Parse and check a policy's text; every error is a ConfigError naming file, line and rule."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = match.group(1) if match else None
        if line is None and "end of document" in str(exc):
            line = str(max(1, len(text.splitlines())))
        where = f"{path}:{line}" if line else path
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        raise ConfigError(f"{where}: invalid TOML: {reason}") from None
    check = _Checker(path, _Lines(text))
    check.keys(data, TOP_KEYS, "", 0)

    protect_table = data.get("protect", {})
    if not isinstance(protect_table, dict):
        raise check.error("", 0, "protect", "expected a table: [protect]")
    check.keys(protect_table, PROTECT_KEYS, "protect", 0)
    protect = Protect(
        tags=check.pattern(protect_table, "tags", "protect", 0),
        repositories=check.pattern(protect_table, "repositories", "protect", 0),
    )

    rules = tuple(_parse_rule(check, table, number) for number, table in _tables(check, data, "rules"))
    copies = tuple(_parse_copy(check, table, number) for number, table in _tables(check, data, "copy"))
    return Policy(
        rules=rules,
        copies=copies,
        protect=protect,
        untagged=check.boolean(data, "untagged", False),
        dangling_referrers=check.boolean(data, "dangling_referrers", False),
        delete_referrers=check.boolean(data, "delete_referrers", True),
        path=path,
        sha256="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
    )


def load_policy(path: str | Path) -> Policy:
    """Read and parse a policy file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read policy {path}: {exc}") from None
    return parse_policy(text, str(path))


def _tables(check: _Checker, data: dict[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(section, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise check.error("", 0, section, f"expected tables: [[{section}]]")
    return list(enumerate(value, start=1))


def _scope_fields(check: _Checker, table: dict[str, Any], section: str, number: int) -> dict[str, Any]:
    """The fields every rule and copy rule shares: number, line, name and RepositoryScope."""
    return {
        "number": number,
        "line": check.lines.find(section, number),
        "name": check.string(table, "name", section, number),
        "registries": check.pattern(table, "registries", section, number),
        "repositories": check.pattern(table, "repositories", section, number, required=True),
        "exclude_repositories": check.pattern(table, "exclude_repositories", section, number),
    }


def _parse_rule(check: _Checker, table: dict[str, Any], number: int) -> Rule:
    section = "rules"
    check.keys(table, RULE_KEYS, section, number)
    rule = Rule(
        **_scope_fields(check, table, section, number),
        delete_tags=check.pattern(table, "delete_tags", section, number),
        older_than_days=check.number(table, "older_than_days", section, number),
        keep_newest=check.number(table, "keep_newest", section, number, integer=True) or 0,
        keep_younger_than_days=check.number(table, "keep_younger_than_days", section, number),
        keep_tags=check.pattern(table, "keep_tags", section, number),
    )
    # Contradictions: a rule that can select nothing, or keeps exactly what it selects.
    if rule.exclude_repositories and rule.exclude_repositories.text == rule.repositories.text:
        raise check.error(section, number, "exclude_repositories",
                          "the rule matches no repository: exclude_repositories equals repositories")
    if rule.delete_tags and rule.keep_tags and rule.delete_tags.text == rule.keep_tags.text:
        raise check.error(section, number, "keep_tags",
                          "contradictory rule: it keeps every tag it selects (keep_tags equals delete_tags)")
    if (
        rule.older_than_days is not None
        and rule.keep_younger_than_days is not None
        and rule.keep_younger_than_days > rule.older_than_days
    ):
        raise check.error(
            section, number, "keep_younger_than_days",
            f"contradictory rule: it selects tags older than {_days(rule.older_than_days)} days and keeps "
            f"those younger than {_days(rule.keep_younger_than_days)}; say older_than_days = "
            f"{_days(rule.keep_younger_than_days)} if that is what you mean",
        )
    return rule


def _parse_copy(check: _Checker, table: dict[str, Any], number: int) -> CopyRule:
    section = "copy"
    check.keys(table, COPY_KEYS, section, number)
    destination = check.string(table, "destination", section, number)
    if destination is None:
        raise check.error(section, number, None, "destination is required (the registry host to copy to)")
    if "/" in destination.split("://", 1)[-1].rstrip("/"):
        raise check.error(section, number, "destination",
                          "give the registry host only; the repository goes in destination_repository")
    target = check.string(table, "destination_repository", section, number) or DEFAULT_DESTINATION_REPOSITORY
    rule = CopyRule(
        **_scope_fields(check, table, section, number),
        tags=check.pattern(table, "tags", section, number),
        exclude_tags=check.pattern(table, "exclude_tags", section, number),
        destination=destination.rstrip("/"),
        destination_repository=target,
    )
    if rule.tags and rule.exclude_tags and rule.tags.text == rule.exclude_tags.text:
        raise check.error(section, number, "exclude_tags", "the rule copies nothing: exclude_tags equals tags")
    return rule


def _quote(text: str) -> str:
    """A regular expression as the policy file would hold it (TOML literal string)."""
    return f"'{text}'" if "'" not in text else f'"{text}"'


def _type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def _days(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _closest(key: str, allowed: frozenset[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.7)
    return found[0] if found else None
