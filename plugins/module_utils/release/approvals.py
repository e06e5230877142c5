# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Approval statements and the signed promotion request (pure; the rule is ``release.approvals``).

A statement is ``{"statement": {...}, "key_id": "ed25519:...", "sig": "<base64>"}``; ``sig`` is the Ed25519
signature of ``STATEMENT_CONTEXT + canonical JSON of statement``. An approval says::

    {"type": "approval", "purpose": "promotion" | "override", "release": "<id>", "digest": "sha256:...",
     "environment": "prod", "approver": "alice", "issued": "<ISO>", "expires": "<ISO>"}

and the promotion request, signed by whoever deploys::

    {"type": "promotion_request", "release": "<id>", "digest": "sha256:...", "environment": "prod",
     "deployer": "bob", "issued": "<ISO>", "expires": "<ISO>"}

A person is an entry of the policy's ``identities`` (name -> public key and groups). A statement counts for
the person whose registered key made its signature, and only when the name it claims is that person: who
approved and who deploys are established by keys, never by a variable. :func:`tally` checks every statement
and says which count and why the others do not.
"""

from __future__ import annotations

import datetime as _dt

from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.audit.errors import AuditError
from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError
from ansible_collections.governed.odoo.plugins.module_utils.release.windows import parse_instant

STATEMENT_CONTEXT = b"governed.odoo release statement v1\n"
PURPOSES = ("promotion", "override")


def sign_statement(statement, signer):
    """A signed statement (for tools and tests; private keys never pass through the collection's modules)."""
    return {"statement": statement, "key_id": signer.key_id,
            "sig": signer.sign(STATEMENT_CONTEXT + chain.canonical(statement))}


def identities(policy):
    """{name: {"key_id", "key", "groups"}} from the policy's identities (name -> {public_key, groups})."""
    out = {}
    for name, spec in (policy.get("identities") or {}).items():
        try:
            key = chain.load_public_key((spec or {}).get("public_key") or "")
        except AuditError as exc:
            raise ReleaseError(f"identity {name}: {exc.msg}") from None
        out[name] = {"key_id": chain.key_id(key), "key": key, "groups": tuple((spec or {}).get("groups") or ())}
    return out


def _signer_of(signed, people):
    """(person name, problem): who signed ``signed`` according to the registered keys."""
    if not isinstance(signed, dict) or not isinstance(signed.get("statement"), dict):
        return None, "is not a signed statement"
    body = signed["statement"]
    by_key = [name for name, p in people.items() if p["key_id"] == signed.get("key_id")]
    if not by_key:
        return None, f"is signed by {signed.get('key_id')!r}, which is no registered identity's key"
    name = by_key[0]
    if not chain.signature_ok(people[name]["key"], signed.get("sig") or "", STATEMENT_CONTEXT + chain.canonical(body)):
        return None, f"has a signature that does not verify with {name}'s key (forged or altered)"
    return name, None


def _binding(body, release, environment, now, kind):
    """Problems binding a statement body to the release, digest, environment and time."""
    problems = []
    if body.get("type") != kind:
        problems.append(f"is a {body.get('type')!r}, not a {kind}")
    if body.get("release") != release.get("id"):
        problems.append(f"is for release {body.get('release')!r}, not {release.get('id')!r}")
    image = release.get("image") or ""
    digest = image.split("@", 1)[1] if "@" in image else None
    if body.get("digest") != digest:
        problems.append(f"is for digest {str(body.get('digest'))[:19]}..., not the release's {str(digest)[:19]}...")
    if body.get("environment") != environment:
        problems.append(f"is for environment {body.get('environment')!r}, not {environment!r}")
    try:
        issued, expires = parse_instant(body.get("issued")), parse_instant(body.get("expires"))
    except ReleaseError:
        problems.append("needs issued and expires as ISO instants with an offset")
        return problems
    if issued > now:
        problems.append(f"is issued in the future ({body.get('issued')})")
    if expires <= now:
        problems.append(f"expired at {body.get('expires')}")
    return problems


def deployer(request, release, policy, now):
    """(name, problems): the person whose key signed the promotion request, if it binds to this promotion."""
    people = identities(policy)
    if not request:
        return None, ["no signed promotion request: the deployer's key must sign the request"]
    name, problem = _signer_of(request, people)
    if problem:
        return None, [f"the promotion request {problem}"]
    body = request["statement"]
    problems = [f"the promotion request {p}" for p in
                _binding(body, release, policy.get("environment"), now, "promotion_request")]
    if body.get("deployer") != name:
        problems.append(f"the promotion request names deployer {body.get('deployer')!r} but is signed by {name}")
    deployer_groups = policy.get("deployer_groups") or ()
    if deployer_groups and not set(people[name]["groups"]) & set(deployer_groups):
        problems.append(f"{name} is in none of the deployer groups ({', '.join(deployer_groups)})")
    return (name if not problems else None), problems


def awx_deployer(job, policy):
    """(name, problems): the user AWX says launched the running job (evidence.awx_job), when the run is inside AWX.
    The name must be a registered identity in a deployer group, as the signer of a promotion request must."""
    if job.get("error"):
        return None, [f"who deploys cannot be read from AWX: {job['error']}"]
    name = job.get("launched_by")
    if not name:
        return None, [f"AWX does not say which user launched job {job.get('job')} ({job.get('launched_by_type')})"]
    people = identities(policy)
    if name not in people:
        return None, [f"AWX user {name} launched the job but is no identity of the policy (release_identities)"]
    deployer_groups = policy.get("deployer_groups") or ()
    if deployer_groups and not set(people[name]["groups"]) & set(deployer_groups):
        return None, [f"{name} is in none of the deployer groups ({', '.join(deployer_groups)})"]
    return name, []


def _match(people_groups, minima):
    """The groups whose minimum distinct people cannot fill (each person fills one seat), by augmenting paths."""
    seats = []
    for group, count in sorted(minima.items()):
        seats.extend([group] * int(count or 0))
    owner = {}

    def place(person, seen):
        for i, group in enumerate(seats):
            if group in people_groups[person] and i not in seen:
                seen.add(i)
                if i not in owner or place(owner[i], seen):
                    owner[i] = person
                    return True
        return False

    for person in sorted(people_groups):
        place(person, set())
    filled = {}
    for i in owner:
        filled[seats[i]] = filled.get(seats[i], 0) + 1
    return {g: n for g, n in minima.items() if filled.get(g, 0) < int(n or 0)}


def tally(statements, release, policy, now, deployer_name, purpose="promotion"):
    """{"counted": [names], "ignored": [reasons], "refusals": [reasons], "missing": [reasons]}.

    ``refusals`` are statements that are not merely insufficient but wrong (forged, for another release or
    digest, self-approval): they refuse the promotion even when enough others are valid.
    """
    now = parse_instant(now)
    people = identities(policy)
    rules = policy.get("approvals") or {}
    if purpose == "override":
        rules = policy.get("override") or {}
    required = int(rules.get("required") or 0)
    minima = dict(rules.get("groups") or {})
    counted, ignored, refusals = [], [], []
    for n, signed in enumerate(statements or ()):
        label = f"{purpose} approval {n + 1}"
        name, problem = _signer_of(signed, people)
        if problem:
            refusals.append(f"{label} {problem}")
            continue
        body = signed["statement"]
        label = f"{label} ({name})"
        if body.get("approver") != name:
            refusals.append(f"{label} claims approver {body.get('approver')!r} but is signed by {name}")
            continue
        if body.get("purpose") != purpose:
            ignored.append(f"{label} is for {body.get('purpose')!r}, not {purpose}")
            continue
        binding = _binding(body, release, policy.get("environment"), now, "approval")
        expired = [p for p in binding if p.startswith(("expired", "is issued in the future"))]
        wrong = [p for p in binding if p not in expired]
        if wrong:
            refusals.append(f"{label} " + "; ".join(wrong))
            continue
        if expired:
            ignored.append(f"{label} " + "; ".join(expired))
            continue
        if deployer_name is not None and name == deployer_name:
            refusals.append(f"{label}: {name} deploys this release and cannot approve it")
            continue
        if name in counted:
            ignored.append(f"{label}: {name} already counted (one person counts once)")
            continue
        eligible = set(minima) | set(rules.get("eligible_groups") or ())
        if eligible and not set(people[name]["groups"]) & eligible:
            ignored.append(f"{label}: {name} is in none of the approving groups ({', '.join(sorted(eligible))})")
            continue
        counted.append(name)
    missing = []
    if len(counted) < required:
        missing.append(f"{len(counted)} of {required} {purpose} approvals")
    short = _match({name: set(people[name]["groups"]) for name in counted}, minima)
    for group, need in sorted(short.items()):
        missing.append(f"group {group} needs {need} distinct approver(s)")
    return {"counted": counted, "ignored": ignored, "refusals": refusals, "missing": missing}


def statement_time(value):
    """ISO text of an aware datetime, as statements carry it."""
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def override_event(decision, tally_result, release, environment, deployer_name):
    """The audit event of a promotion let through a window or freeze by an override (kind ``override``).

    ``decision`` is windows.Schedule.decide()'s result, ``tally_result`` the override's :func:`tally`; None when
    nothing was overridden (the window was open) or the override is not valid.
    """
    if decision.get("allowed") or tally_result.get("refusals") or tally_result.get("missing"):
        return None
    image = release.get("image") or ""
    return {"kind": "override", "environment": environment,
            "release": {"id": release.get("id"), "digest": image.split("@", 1)[1] if "@" in image else None},
            "deployer": deployer_name, "approvers": list(tally_result.get("counted") or ()),
            "overrode": list(decision.get("blocked_by") or ()), "at": decision.get("at")}
