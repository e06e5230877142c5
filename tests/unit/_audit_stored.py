"""The part of RemoteChain that AuditTrail uses, in memory, for unit tests of the append and sync logic (the real
store is tested against the lab's SeaweedFS in tests/integration/test_audit_store.py).

``put_record`` is the conditional PUT: a taken sequence number raises AppendConflict, unless the stored record is the
same one (a retried PUT whose answer was lost). ``before_put`` lets a test slip another writer's append in between a
writer's sync and its PUT. ``puts`` counts the record PUTs that were tried.
"""

from __future__ import annotations

import copy

from ansible_collections.governed.odoo.plugins.module_utils.audit.errors import AppendConflict
from ansible_collections.governed.odoo.plugins.module_utils.audit.store import StoredState


class Stored:
    def __init__(self):
        self.records, self.heads, self.before_put, self.puts = {}, [], None, 0

    def check(self):
        pass

    def state(self):
        return StoredState({seq: None for seq in self.records}, {}, self.heads[-1] if self.heads else None)

    def get_record(self, seq, version_id=None):
        return copy.deepcopy(self.records.get(seq))

    def tail(self):
        last = self.records[max(self.records)] if self.records else None
        return copy.deepcopy(last), (self.heads[-1] if self.heads else None)

    def put_record(self, record, now):
        self.puts += 1
        if self.before_put:
            hook, self.before_put = self.before_put, None
            hook()
        if record["seq"] in self.records:
            if self.records[record["seq"]]["hash"] == record["hash"]:
                return
            raise AppendConflict(f"record {record['seq']} was appended by another writer first", seq=record["seq"])
        self.records[record["seq"]] = copy.deepcopy(record)

    def put_head(self, head, now):
        self.heads.append(copy.deepcopy(head))

    def read(self):
        return self.chain(), (self.heads[-1] if self.heads else None), []

    def chain(self):
        return [self.records[s] for s in sorted(self.records)]
