"""Plans through templates: a view model built from the plan, rendered by a Jinja template.

The view (:func:`plan_view`) is plain data; the templates in ``reports/`` only read it:

============  =========================  ===================================================
format        template                   what for
============  =========================  ===================================================
``md``        ``plan.md.j2``             review in a terminal, a merge request, a ticket
``html``      ``plan.html.j2``           review in a browser (a record of what ran)
``sh``        ``plan.sh.j2``             the same deletions as skopeo/regctl commands, each
                                         pinned to its digest behind a drift check
``sync``      ``plan-sync.yaml.j2``      the copy actions as a ``skopeo sync --src yaml`` file
============  =========================  ===================================================

``--format`` also takes a template file (``my-plan.txt.j2``) or the name of one in
``--templates DIR`` (``NAME`` finds ``plan.NAME.j2``, ``plan-NAME.j2`` or ``NAME.j2``).
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import jinja2
import markupsafe

from reginventory.units import human_bytes
from reginventory.errors import ConfigError
from reginventory.plan.applier import GC_REMINDER

#: The packaged templates: ``reports/`` at the project root.
REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"  # the link to the top-level reports/
FORMATS = {
    "md": "plan.md.j2",
    "markdown": "plan.md.j2",
    "html": "plan.html.j2",
    "sh": "plan.sh.j2",
    "shell": "plan.sh.j2",
    "sync": "plan-sync.yaml.j2",
    "sync-yaml": "plan-sync.yaml.j2",
}
def short(digest: str | None, length: int = 12) -> str:
    """``sha256:0123456789ab`` for tables; the full digest stays in the plan and the scripts."""
    if not digest:
        return ""
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}:{hex_[:length]}"


def shell_quote(value: Any) -> markupsafe.Markup:
    """Quoted for sh; marked safe so that no HTML escaping ever breaks a script."""
    return markupsafe.Markup(shlex.quote(str(value)))


def markdown_cell(value: Any) -> str:
    """Text fit for a Markdown table cell: pipes escaped, one line."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def plan_view(plan: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
    """Everything a plan template shows, as plain data (no logic left for the template)."""
    actions = list(plan.get("actions", []))
    repos: dict[tuple[str, str], dict[str, Any]] = {}
    for action in actions:
        if action["action"] == "copy":
            continue
        key = (action["registry"], action["repository"])
        repo = repos.setdefault(key, {
            "registry": key[0], "repository": key[1], "deletes": 0, "untags": 0, "tags_removed": 0,
            "bytes": 0, "actions": [],
        })
        repo["deletes" if action["action"] == "delete" else "untags"] += 1
        repo["tags_removed"] += len(action.get("tags") or [])
        repo["actions"].append(_action_view(action))
    for row in plan.get("reclaimable", []):
        key = (row["registry"], row["repository"])
        if key in repos:
            repos[key]["bytes"] = row["bytes"]
            repos[key]["bytes_human"] = human_bytes(row["bytes"])
    for repo in repos.values():
        repo.setdefault("bytes_human", human_bytes(repo["bytes"]))
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for action in actions:
        if action["action"] != "copy":
            groups[int(action.get("group") or action["id"])].append(_action_view(action))
    delete_groups = []
    resolved: set[str] = set()
    for gid, members in groups.items():
        base = members[0]["reference_base"]
        deletes = [a for a in members if a["action"] == "delete"]
        delete_groups.append({
            "id": gid, "registry": members[0]["registry"], "repository": members[0]["repository"],
            "reference_base": base, "action": members[0]["action"], "actions": members,
            # drift: each tag it removes, and the digest it must still point at
            "checks": [(a["reference_base"] + ":" + t, a["digest"]) for a in members for t in a["tags"]],
            # new tags: each digest it deletes, with the tags the plan removes with it
            "digests": [(a["digest"], a["tags"]) for a in deletes],
            # the repository's tags are resolved once, before its first delete group
            "resolve": bool(deletes) and base not in resolved,
        })
        if deletes:
            resolved.add(base)
    copies = [_action_view(a) for a in actions if a["action"] == "copy"]
    by_destination: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for copy in copies:
        by_destination[copy["destination_registry"]].append(copy)
    sync = []
    for destination, items in sorted(by_destination.items()):
        sources: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for item in items:
            sources[item["registry"]][item["repository"]].append(item)
        sync.append({"destination": destination, "sources": {r: dict(v) for r, v in sorted(sources.items())}})
    counts = plan.get("counts", {})
    return {
        "title": "reginventory plan",
        "dry_run": dry_run,
        "created": plan.get("created"),
        "crawl_id": plan.get("crawl_id"),
        "crawl_started": plan.get("crawl_started"),
        "crawls": plan.get("crawls", []),
        "policy": plan.get("policy", {}),
        "rules": sorted((plan.get("rules") or {}).items()),
        "options": plan.get("options", {}),
        "checksum": plan.get("checksum"),
        "counts": counts,
        "reclaimable_bytes": int(plan.get("reclaimable_bytes") or 0),
        "reclaimable_human": human_bytes(plan.get("reclaimable_bytes") or 0),
        "repositories": [repos[k] for k in sorted(repos)],
        "groups": delete_groups,
        "copies": copies,
        "sync": sync,
        "kept": plan.get("kept", []),
        "warnings": plan.get("warnings", []),
        "gc_reminder": GC_REMINDER,
        "empty": not actions,
    }


def _action_view(action: dict[str, Any]) -> dict[str, Any]:
    view = {"note": None, "kind": None, "rule": "", "reason": None, "media_type": None, **action}
    view["tags"] = list(action.get("tags") or [])
    view["short_digest"] = short(action["digest"])
    view["bytes_human"] = human_bytes(action.get("bytes") or 0)
    view["reference_base"] = f"{action['registry']}/{action['repository']}"
    view["reference"] = f"{action['registry']}/{action['repository']}@{action['digest']}"
    if action["action"] == "copy":
        view["destination"] = f"{action['destination_registry']}/{action['destination_repository']}"
    return view


def environment(template_dirs: Iterable[str | Path] = ()) -> jinja2.Environment:
    """The report package's Jinja environment (an overlay of it), else one of the same kind:
    autoescape on for every template (``select_autoescape`` would skip ``.md`` and ``.sh``; the
    text templates turn it off themselves), undefined names are errors."""
    dirs = [str(Path(d)) for d in template_dirs] + [str(REPORTS_DIR)]
    env = _report_environment(dirs)
    if env is None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(dirs),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    env.filters.setdefault("human_bytes", human_bytes)
    env.filters.setdefault("short", short)
    env.filters["shell_quote"] = shell_quote
    env.filters["cell"] = markdown_cell
    return env


def _report_environment(dirs: list[str]) -> jinja2.Environment | None:
    """An overlay of the report package's one environment (same autoescape, undefined and
    filters) that also finds the plan templates and the user's; the report's own is untouched."""
    try:
        from reginventory.report.render import environment as report_environment
    except ImportError:
        return None
    base = report_environment()
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(dirs)]
    if base.loader is not None:
        loaders.append(base.loader)
    env = base.overlay(loader=jinja2.ChoiceLoader(loaders))
    env.filters = dict(env.filters)  # an overlay shares the dict: ours must not leak into reports
    return env


def template_for(fmt: str, template_dirs: Iterable[str | Path] = ()) -> tuple[jinja2.Environment, jinja2.Template]:
    """Resolve ``--format``: a known format, a template file, or a name in the template dirs."""
    dirs = list(template_dirs)
    path = Path(fmt)
    if fmt not in FORMATS and path.suffix == ".j2" and path.is_file():
        env = environment([path.parent, *dirs])
        return env, env.get_template(path.name)
    env = environment(dirs)
    candidates = [FORMATS[fmt]] if fmt in FORMATS else [f"plan.{fmt}.j2", f"plan-{fmt}.j2", f"{fmt}.j2"]
    for name in candidates:
        try:
            return env, env.get_template(name)
        except jinja2.TemplateNotFound:
            continue
    known = ", ".join(sorted({k for k in FORMATS if len(k) <= 4}))
    raise ConfigError(
        f"no plan template for format {fmt!r}: use one of {known}, a .j2 file, or put plan.{fmt}.j2 in a --templates folder"
    )


def render(plan: dict[str, Any], fmt: str = "md", *, template_dirs: Iterable[str | Path] = (), dry_run: bool = False) -> str:
    """The plan through the template of ``fmt``."""
    _, template = template_for(fmt, template_dirs)
    try:
        return template.render(plan=plan_view(plan, dry_run=dry_run), raw=plan)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"template {template.name}: {exc}") from None
