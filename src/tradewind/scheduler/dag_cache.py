"""Serialized DAGs as the scheduler sees them, cached by their hash.

The scheduler never imports DAG files; it reads the JSON the DAG processor stored and keeps
the decoded form while the hash is unchanged.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewind.dag_processing.serialization import SerializedDag
from tradewind.db.models import SerializedDagRow


class DagCache:
    def __init__(self) -> None:
        self._by_hash: dict[str, SerializedDag] = {}
        self._hash_of: dict[str, str] = {}

    def get(self, session: Session, dag_id: str) -> SerializedDag | None:
        """The DAG's current structure, decoded once per version."""
        return self.get_many(session, {dag_id}).get(dag_id)

    def get_many(self, session: Session, dag_ids: set[str]) -> dict[str, SerializedDag]:
        """Several DAGs in two queries at most: hashes first, then only unseen versions."""
        if not dag_ids:
            return {}
        hashes = dict(
            session.execute(
                select(SerializedDagRow.dag_id, SerializedDagRow.dag_hash).where(
                    SerializedDagRow.dag_id.in_(dag_ids)
                )
            ).all()
        )
        missing = [dag_id for dag_id, digest in hashes.items() if digest not in self._by_hash]
        if missing:
            rows = session.execute(
                select(
                    SerializedDagRow.dag_id, SerializedDagRow.dag_hash, SerializedDagRow.data
                ).where(SerializedDagRow.dag_id.in_(missing))
            )
            for dag_id, digest, data in rows:
                old = self._hash_of.get(dag_id)
                if old is not None and old != digest:
                    self._by_hash.pop(old, None)
                self._by_hash[digest] = SerializedDag.from_dict(json.loads(data))
                self._hash_of[dag_id] = digest
                hashes[dag_id] = digest
        return {
            dag_id: self._by_hash[digest]
            for dag_id, digest in hashes.items()
            if digest in self._by_hash
        }
