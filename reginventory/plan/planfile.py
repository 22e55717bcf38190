"""The plan file: JSON with a checksum over its content, written and read back with checks.

Layout (``plan_version`` 1)::

    {
      "plan_version": 1,
      "created": "2026-01-02T03:04:05Z",          # when the plan was made
      "tool_version": "0.1.0",
      "crawl_id": "...", "crawl_started": "...",  # the oldest crawl it was made from
      "crawls": [{"registry", "crawl_id", "started", "status"}],
      "registries": ["127.0.0.1:5000"],
      "as_of": "...",                             # the time ages are counted from (crawl start)
      "policy": {"path": "policy.toml", "sha256": "sha256:..."},
      "counts": {"delete": 3, "untag": 1, "copy": 0, "tags": 5},
      "reclaimable_bytes": 123456,                # what garbage collection frees once applied
      "reclaimable": [{"registry", "repository", "blobs", "bytes"}],
      "actions": [{"id", "action", "registry", "repository", "digest", "tags", "rule", "bytes",
                   "kind", "media_type", "group", "after", ...}],
      "kept": [{"registry", "repository", "tag", "digest", "reason"}],
      "warnings": [],
      "checksum": "sha256:..."                    # over everything else, canonical JSON
    }

The checksum is sha256 over the canonical JSON (sorted keys, no whitespace, ASCII) of the plan
without its ``checksum`` field: a plan edited by hand fails it and is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reginventory.errors import PlanError

PLAN_VERSION = 1
ACTIONS = ("delete", "untag", "copy")
#: A plan made from an older crawl than this is refused by default: tags move, and the drift
#: checks catch moves but not the images pushed since the crawl that the policy would also select.
DEFAULT_MAX_AGE = dt.timedelta(hours=24)
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def canonical_json(value: Any) -> bytes:
    """The bytes the checksum covers: sorted keys, no whitespace, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def checksum(plan: dict[str, Any]) -> str:
    """``sha256:<hex>`` over the plan without its checksum field."""
    body = {k: v for k, v in plan.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def seal(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with its checksum set."""
    sealed = {k: v for k, v in plan.items() if k != "checksum"}
    sealed["checksum"] = checksum(sealed)
    return sealed


def dumps(plan: dict[str, Any]) -> str:
    """The plan as written to disk: sealed, indented for review, keys in a stable order."""
    return json.dumps(seal(plan), indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def write_plan(plan: dict[str, Any], path: str | Path) -> Path:
    """Write the sealed plan atomically (temporary file, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(dumps(plan))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)
    return target


@dataclass(frozen=True)
class LoadedPlan:
    """A plan read from disk whose checksum matched."""

    path: Path
    data: dict[str, Any]

    @property
    def actions(self) -> list[dict[str, Any]]:
        return list(self.data.get("actions", []))

    @property
    def crawl_started(self) -> dt.datetime:
        return parse_time(self.data["crawl_started"])


def load_plan(path: str | Path, *, verify: bool = True) -> LoadedPlan:
    """Read a plan file; refuse one that is not a plan or whose checksum does not match."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"cannot read plan {source}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlanError(f"plan {source} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("actions"), list):
        raise PlanError(f"{source} is not a reginventory plan: no actions list")
    version = data.get("plan_version")
    if version != PLAN_VERSION:
        raise PlanError(f"plan {source} has plan_version {version!r}; this reginventory reads {PLAN_VERSION}")
    if verify:
        stated = data.get("checksum")
        actual = checksum(data)
        if stated != actual:
            raise PlanError(
                f"plan {source} fails its checksum (states {stated}, content gives {actual}): it was "
                "changed after it was made; make a new plan with `reginventory plan` instead of editing one"
            )
    _check_actions(source, data["actions"])
    return LoadedPlan(source, data)


def check_age(plan: LoadedPlan, max_age: dt.timedelta, now: dt.datetime | None = None) -> None:
    """Refuse a plan whose crawl started longer than ``max_age`` ago."""
    now = now or dt.datetime.now(dt.timezone.utc)
    age = now - plan.crawl_started
    if age > max_age:
        raise PlanError(
            f"plan {plan.path} was made from crawl {plan.data.get('crawl_id')} of {format_time(plan.crawl_started)}, "
            f"{format_duration(age)} ago, older than --max-age {format_duration(max_age)}: crawl again and "
            "make a new plan (or pass a larger --max-age)"
        )


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` (a bare number is seconds)."""
    match = _DURATION_RE.match(text)
    if not match:
        raise PlanError(f"bad duration {text!r}: expected a number with s, m, h, d or w (e.g. 24h)")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def format_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 or seconds >= 10 * size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_time(value: dt.datetime) -> str:
    """UTC, second precision, ``Z``: the way plans write times."""
    return value.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _check_actions(source: Path, actions: list[Any]) -> None:
    seen: set[int] = set()
    for position, action in enumerate(actions):
        if not isinstance(action, dict):
            raise PlanError(f"plan {source}: action {position + 1} is not an object")
        kind = action.get("action")
        if kind not in ACTIONS:
            raise PlanError(f"plan {source}: action {action.get('id', position + 1)} has unknown action {kind!r}")
        for key in ("id", "registry", "repository", "digest"):
            if not action.get(key):
                raise PlanError(f"plan {source}: action {action.get('id', position + 1)} lacks {key}")
        if not str(action["digest"]).startswith("sha256:"):
            raise PlanError(f"plan {source}: action {action['id']} is not pinned to a sha256 digest")
        if action["id"] in seen:
            raise PlanError(f"plan {source}: action id {action['id']} appears twice")
        seen.add(action["id"])
        if kind == "untag" and len(action.get("tags") or []) != 1:
            raise PlanError(f"plan {source}: untag action {action['id']} must name exactly one tag")
        if kind == "copy" and not (action.get("destination_registry") and action.get("destination_repository")):
            raise PlanError(f"plan {source}: copy action {action['id']} lacks its destination")
