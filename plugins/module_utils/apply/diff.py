# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions over Kubernetes objects: noise, secrets, and "would an apply change this?".

``compare(declared, live, field_manager)`` decides locally, without a request, whether
server-side applying ``declared`` with ``field_manager`` would leave ``live`` as it is. It
walks the declared object, the live object and the manager's entry in ``managedFields``
together and answers

    UNCHANGED  every declared field equals the live value (after the server's obvious
               canonicalizations: quantities, int-vs-string numbers, empty-vs-missing) AND the
               manager owns exactly the declared fields, so the apply would neither change a
               value, nor take ownership, nor remove a previously applied field;
    CHANGED    a declared value differs, a field is not yet ours, or a field we applied before
               is no longer declared (the apply would remove it);
    UNSURE     something the local rules cannot settle (an atomic list whose live items carry
               extra fields, an ambiguous list key...): the engine then asks the server with a
               dry-run apply.

Everything here is deterministic and free of I/O so that it is unit tested on its own.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from decimal import Decimal, InvalidOperation

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

UNCHANGED = "unchanged"
CHANGED = "changed"
UNSURE = "unsure"

REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted: changed>"
REDACTED_BEFORE = "<redacted: previous value>"

NOISE_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")
NOISE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision")

# keys whose scalar children are resource quantities (the API server canonicalizes them:
# "0.5" -> "500m", "1024Mi" -> "1Gi", 2 -> "2")
QUANTITY_PARENTS = frozenset(
    (
        "limits",
        "requests",
        "hard",
        "used",
        "capacity",
        "allocatable",
        "default",
        "defaultRequest",
        "max",
        "min",
        "maxLimitRequestRatio",
        "overhead",
    )
)
QUANTITY_KEYS = frozenset(("sizeLimit", "storage"))

# server-side defaults found inside atomic values (see _is_known_default): anywhere, and in the
# items of a given list field
KNOWN_DEFAULTS = {"protocol": "TCP", "volumeMode": "Filesystem"}
KNOWN_DEFAULTS_IN = {
    "volumeClaimTemplates": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}},
}
_MISSING = object()

_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
_SUFFIX = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


# -- identity ---------------------------------------------------------------------------------


def object_ref(obj):
    """'Deployment odoo/web' or 'ClusterRole odoo-reader' for messages."""
    meta = obj.get("metadata") or {}
    if meta.get("namespace"):
        return f"{obj.get('kind')} {meta['namespace']}/{meta.get('name')}"
    return f"{obj.get('kind')} {meta.get('name')}"


# -- quantities and scalars -------------------------------------------------------------------


def parse_quantity(value):
    """A Kubernetes resource quantity as a Decimal, or None when ``value`` is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    if not isinstance(value, str):
        return None
    m = _QUANTITY_RE.match(value.strip())
    if not m:
        return None
    try:
        number = Decimal(m.group(1))
        if m.group(2):
            return number * (Decimal(10) ** int(m.group(2)[1:]))
        return number * _SUFFIX[m.group(3) or ""]
    except (InvalidOperation, ValueError):
        return None


def scalars_equal(declared, live, key=None, parent_key=None):
    """Equality of two scalars as the API server would store them."""
    if isinstance(declared, bool) or isinstance(live, bool):
        return isinstance(declared, bool) and isinstance(live, bool) and declared == live
    if declared == live and type(declared) is type(live):
        return True
    if isinstance(declared, (int, float)) and isinstance(live, (int, float)):
        return declared == live
    if key in QUANTITY_KEYS or parent_key in QUANTITY_PARENTS:
        dq, lq = parse_quantity(declared), parse_quantity(live)
        if dq is not None and lq is not None:
            return dq == lq
    # int-vs-string numbers (ports and replicas rendered from templates as strings)
    if (isinstance(declared, str) and isinstance(live, int)) or (isinstance(declared, int) and isinstance(live, str)):
        return str(declared).strip() == str(live).strip()
    return False


def _empty(value):
    return value is None or value == {} or value == []


# -- normalization of declared objects --------------------------------------------------------


def secret_string_data_to_data(obj):
    """A Secret with ``stringData`` folded into ``data`` (as the API server stores it)."""
    if obj.get("kind") != "Secret" or not obj.get("stringData"):
        return obj
    out = dict(obj)
    data = dict(out.get("data") or {})
    for key, val in out.pop("stringData").items():
        text = val if isinstance(val, str) else json.dumps(val) if not isinstance(val, (int, float)) else str(val)
        data[key] = base64.b64encode(text.encode("utf-8")).decode("ascii")
    out["data"] = data
    return out


# -- managedFields ----------------------------------------------------------------------------


def manager_entry(live, field_manager, api_version=None):
    """(fieldsV1 of the manager's Apply entry, verdict-if-none).

    Returns (fields, None) when exactly one Apply entry of ``field_manager`` exists (for the
    main resource, at ``api_version`` when given); (None, CHANGED) when there is none (an apply
    would take ownership); (None, UNSURE) when there are several or at another version.
    """
    entries = [
        e
        for e in (live.get("metadata") or {}).get("managedFields") or []
        if e.get("manager") == field_manager and e.get("operation") == "Apply" and not e.get("subresource")
    ]
    if not entries:
        return None, CHANGED
    if len(entries) > 1:
        return None, UNSURE
    entry = entries[0]
    if api_version and entry.get("apiVersion") and entry["apiVersion"] != api_version:
        return None, UNSURE
    return entry.get("fieldsV1") or {}, None


class _Verdict(Exception):
    def __init__(self, verdict, path):
        super().__init__(verdict, path)
        self.verdict = verdict
        self.path = path


def _fail(verdict, path):
    raise _Verdict(verdict, path)


def _json_key(entry):
    try:
        return json.loads(entry[2:])
    except ValueError:
        return None


def _is_known_default(key, value, context=None):
    """A field the API server fills in with this very value when it is left out.

    Inside atomic values (replaced as a whole, e.g. NetworkPolicy ingress rules or StatefulSet
    volumeClaimTemplates) such defaults are the only way a live value differs from the applied
    one without anyone else changing it, and applying the value again gives the same object.
    """
    if KNOWN_DEFAULTS.get(key, _MISSING) == value:
        return True
    return (KNOWN_DEFAULTS_IN.get(context) or {}).get(key, _MISSING) == value


def _deep_equal(declared, live, key=None, parent_key=None):
    """Exact structural equality with scalar canonicalization (for atomic values)."""
    if isinstance(declared, dict):
        if not isinstance(live, dict):
            return False
        dk = {k for k, v in declared.items() if not _empty(v)}
        lk = {k for k, v in live.items() if not _empty(v) and not (k not in dk and _is_known_default(k, v, key))}
        if dk != lk:
            return False
        return all(_deep_equal(declared[k], live[k], k, key) for k in dk)
    if isinstance(declared, list):
        if not isinstance(live, list) or len(declared) != len(live):
            return False
        return all(_deep_equal(d, lv, key, parent_key) for d, lv in zip(declared, live, strict=True))
    if isinstance(live, (dict, list)):
        return False
    return scalars_equal(declared, live, key, parent_key)


def _contains(declared, live, key=None, parent_key=None):
    """``declared`` is a sub-structure of ``live`` (live may carry server-set defaults)."""
    if isinstance(declared, dict):
        if not isinstance(live, dict):
            return False
        for k, v in declared.items():
            if _empty(v):
                if not _empty(live.get(k)) and v is None:
                    return False
                continue
            if k not in live or not _contains(v, live[k], k, key):
                return False
        return True
    if isinstance(declared, list):
        return (
            isinstance(live, list)
            and len(declared) == len(live)
            and all(_contains(d, lv, key, parent_key) for d, lv in zip(declared, live, strict=True))
        )
    if isinstance(live, (dict, list)):
        return False
    return scalars_equal(declared, live, key, parent_key)


def _walk_map(decl, live, mf, path, key=None):
    if not isinstance(live, dict):
        _fail(CHANGED, path)
    owned = {k[2:] for k in mf if k.startswith("f:")}
    if not mf or (not owned and "." not in mf and not any(k.startswith(("k:", "v:", "i:")) for k in mf)):
        # a leaf in the field set: the whole map is atomic and owned as one value
        if _deep_equal(decl, live, key):
            return
        _fail(UNSURE if _contains(decl, live, key) else CHANGED, path)
    for k, v in decl.items():
        sub = f"{path}.{k}"
        if v is None:
            if k in owned or not _empty(live.get(k)):
                _fail(UNSURE, sub)
            continue
        if k not in owned:
            if _empty(v) and _empty(live.get(k)):
                _fail(UNSURE, sub)
            _fail(CHANGED, sub)
        lv = live.get(k)
        if lv is None:
            if _empty(v):
                continue
            _fail(CHANGED, sub)
        _walk(v, lv, mf[f"f:{k}"], sub, k, key)
    for k in owned:
        if k not in decl:
            _fail(CHANGED, f"{path}.{k}")  # applied before, no longer declared: the apply removes it


def _walk_list(decl, live, mf, path, key, parent_key):
    if not isinstance(live, list):
        if not decl and live is None:
            return
        _fail(CHANGED, path)
    entries = [k for k in mf if k.startswith(("k:", "v:", "i:"))]
    if not entries:
        # atomic list: replaced as a whole
        if _deep_equal(decl, live, key, parent_key):
            return
        _fail(UNSURE if _contains(decl, live, key, parent_key) else CHANGED, path)
    if len(entries) != len(decl):
        _fail(CHANGED, path)
    used = set()
    last_index = -1
    for i, item in enumerate(decl):
        sub = f"{path}[{i}]"
        entry, live_index = _match_item(item, i, entries, live, used, sub, key)
        used.add(entry)
        if live_index <= last_index:
            _fail(UNSURE, sub)  # order differs from the live list
        last_index = live_index
        child = mf[entry]
        if entry.startswith("v:"):
            continue
        if isinstance(item, dict):
            child = {k: v for k, v in child.items() if k != "."}
            _walk_map(item, live[live_index], child, sub, key)
        elif not scalars_equal(item, live[live_index], key, parent_key):
            _fail(CHANGED, sub)


def _match_item(item, index, entries, live, used, path, key):
    """Find the managed entry and live index for one declared list item."""
    if isinstance(item, dict):
        candidates = []
        for entry in entries:
            if entry in used:
                continue
            if entry.startswith("i:"):
                if entry == f"i:{index}":
                    candidates.append((entry, index))
                continue
            if not entry.startswith("k:"):
                continue
            keys = _json_key(entry)
            if not isinstance(keys, dict):
                _fail(UNSURE, path)
            if all(kf not in item or scalars_equal(item[kf], kv, kf) for kf, kv in keys.items()):
                live_index = next(
                    (
                        j
                        for j, lv in enumerate(live)
                        if isinstance(lv, dict) and all(lv.get(kf) == kv for kf, kv in keys.items())
                    ),
                    None,
                )
                if live_index is None:
                    _fail(UNSURE, path)
                candidates.append((entry, live_index))
        if not candidates:
            _fail(CHANGED, path)
        if len(candidates) > 1:
            _fail(UNSURE, path)
        entry, live_index = candidates[0]
        if live_index >= len(live):
            _fail(CHANGED, path)
        return entry, live_index
    for entry in entries:
        if entry in used or not entry.startswith("v:"):
            continue
        value = _json_key(entry)
        if not isinstance(value, (dict, list)) and scalars_equal(item, value, key):
            live_index = next(
                (j for j, lv in enumerate(live) if not isinstance(lv, (dict, list)) and scalars_equal(value, lv, key)),
                None,
            )
            if live_index is None:
                _fail(CHANGED, path)
            return entry, live_index
    if f"i:{index}" in entries and index < len(live):
        return f"i:{index}", index
    _fail(CHANGED, path)
    return None, None  # unreachable


def _walk(decl, live, mf, path, key=None, parent_key=None):
    if isinstance(decl, dict):
        _walk_map(decl, live, mf, path, key)
    elif isinstance(decl, list):
        _walk_list(decl, live, mf, path, key, parent_key)
    else:
        if mf and any(k.startswith(("f:", "k:", "v:", "i:")) for k in mf):
            _fail(CHANGED, path)  # we own sub-fields of what is now declared as a scalar
        if not scalars_equal(decl, live, key, parent_key):
            _fail(CHANGED, path)


def _merge_string_data_fields(fields):
    """A Secret applied with stringData: ownership of f:stringData.x counts as f:data.x."""
    if "f:stringData" not in fields:
        return fields
    out = dict(fields)
    sd = out.pop("f:stringData") or {}
    data = dict(out.get("f:data") or {})
    data.update({k: v for k, v in sd.items() if k != "."})
    out["f:data"] = data
    return out


def comparable(declared):
    """The declared object as it is compared with a live one (identity and status left out)."""
    obj = secret_string_data_to_data(declared)
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("name", "namespace", "generateName")}
    if meta:
        out["metadata"] = meta
    else:
        out.pop("metadata", None)
    return out


def compare(declared, live, field_manager):
    """UNCHANGED, CHANGED or UNSURE (see the module docstring), and the path that decided it."""
    if live is None:
        return CHANGED, "(absent)"
    fields, verdict = manager_entry(live, field_manager, declared.get("apiVersion"))
    if fields is None:
        return verdict, "metadata.managedFields"
    if declared.get("kind") == "Secret":
        fields = _merge_string_data_fields(fields)
    try:
        _walk_map(comparable(declared), live, fields, "")
    except _Verdict as v:
        return v.verdict, v.path.lstrip(".") or "(root)"
    return UNCHANGED, None


def same_after_apply(result, live, field_manager=None):
    """Whether a dry-run apply result equals the live object.

    Left out: status (an apply never changes it, controllers do, all the time), the resource
    version, managedFields timestamps and the entries of other managers (a controller may have
    written between the LIST and the dry run).
    """
    return _for_equality(result, field_manager) == _for_equality(live, field_manager)


def _for_equality(obj, field_manager=None):
    obj = copy.deepcopy({k: v for k, v in obj.items() if k != "status"})
    meta = obj.get("metadata") or {}
    meta.pop("resourceVersion", None)
    entries = meta.get("managedFields") or []
    if field_manager:
        entries = [e for e in entries if e.get("manager") == field_manager]
    for entry in entries:
        entry.pop("time", None)
    meta["managedFields"] = entries
    return obj


# -- presentation -----------------------------------------------------------------------------


def strip_noise(obj):
    """A copy without server bookkeeping (managedFields, resourceVersion, uid, status...)."""
    if obj is None:
        return None
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in NOISE_METADATA:
        meta.pop(key, None)
    if meta.get("annotations"):
        ann = {k: v for k, v in meta["annotations"].items() if k not in NOISE_ANNOTATIONS}
        if ann:
            meta["annotations"] = ann
        else:
            meta.pop("annotations")
    out["metadata"] = meta
    return copy.deepcopy(out)


def redact(obj, other=None):
    """A Secret with every value of ``data``/``stringData`` replaced by a marker.

    With ``other`` (the object on the other side of a diff), values that differ between the two
    get a different marker, so that a diff still shows WHICH keys changed, never their values.
    Objects of other kinds are returned as they are.
    """
    if obj is None or obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    theirs = secret_string_data_to_data(other) if other and other.get("kind") == "Secret" else None
    mine = secret_string_data_to_data(obj)
    for field in ("data", "stringData"):
        if not isinstance(obj.get(field), dict):
            continue
        red = {}
        for key in obj[field]:
            if theirs is None:
                red[key] = REDACTED
            else:
                a = (mine.get("data") or {}).get(key)
                b = (theirs.get("data") or {}).get(key)
                red[key] = REDACTED if a == b else REDACTED_CHANGED
        out[field] = red
    return out


def redact_pair(before, after):
    """(before, after) with Secret values redacted; changed keys marked on both sides."""
    b = redact(before, after) if before is not None else None
    a = redact(after, before) if after is not None else None
    if b is not None and a is not None and b.get("kind") == "Secret":
        # mark the 'before' side distinctly so that a changed key shows up as a changed line
        for field in ("data", "stringData"):
            if isinstance(b.get(field), dict):
                b[field] = {k: (REDACTED_BEFORE if v == REDACTED_CHANGED else v) for k, v in b[field].items()}
    return b, a


def to_yaml(obj):
    if obj is None:
        return ""
    if yaml is None:
        return json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True, allow_unicode=True)


def diff_entry(before, after, ref):
    """One Ansible diff entry (before/after YAML with headers) for one object, noise stripped."""
    b, a = redact_pair(strip_noise(before), strip_noise(after))
    return {
        "before": to_yaml(b),
        "after": to_yaml(a),
        "before_header": f"{ref} (live)" if before is not None else f"{ref} (absent)",
        "after_header": f"{ref} (applied)" if after is not None else f"{ref} (pruned)",
    }
