"""The webhook tables, registered with the store's migrations.

- ``smile_events``: every verified event Smile sent, raw body included (de-duplicated on
  Smile's event id), and whether it has been processed.
- ``smile_accounts``: the latest state of each account and upload Smile told us about, by
  Smile user id (an application links to it through its ``smile_user_id``).
- ``webhook_endpoints``: the outbound targets of ``flipgen.yaml`` (synced at server start),
  with the ``disabled_at`` a 410 answer sets.
- ``webhook_deliveries``: the outbox; one row per event and endpoint, written in the same
  transaction as the change that caused it.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Connection, Index, Integer, String, Table, Text

from ..store.migrations import metadata, migration
from ..store.types import JSONDocument, UTCDateTime

__all__ = ["smile_events", "smile_accounts", "webhook_endpoints", "webhook_deliveries"]

smile_events = Table(
    "smile_events",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("user_id", String(100)),
    Column("created_at", UTCDateTime()),  # Smile's `createdAt`
    Column("received_at", UTCDateTime(), nullable=False),
    Column("body", Text, nullable=False),  # exactly the bytes that were signed (UTF-8)
    Column("processed_at", UTCDateTime()),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", String(500)),
    Index("smile_events_user", "user_id", "type"),
    Index("smile_events_received", "received_at"),
)

smile_accounts = Table(
    "smile_accounts",
    metadata,
    Column("kind", String(8), primary_key=True),  # `account` or `archive` (an upload)
    Column("id", String(100), primary_key=True),  # Smile's accountId / archiveId
    Column("user_id", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("providers", JSONDocument(), nullable=False),
    Column("error_code", String(100)),
    Column("event_at", UTCDateTime(), nullable=False),  # `createdAt` of the event that set the status
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("smile_accounts_user", "user_id"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSONDocument(), nullable=False),
    Column("sites", JSONDocument()),
    Column("secret_env", String(100), nullable=False),
    Column("allow_private", Boolean, nullable=False),
    Column("configured", Boolean, nullable=False),  # still listed in flipgen.yaml
    Column("disabled_at", UTCDateTime()),
    Column("disabled_reason", String(200)),
    Column("updated_at", UTCDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("msg_id", String(40), nullable=False),  # the `webhook-id`, the same on every attempt
    Column("endpoint_id", String(40), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("site", String(63)),
    Column("application_id", String(64)),
    Column("event", JSONDocument(), nullable=False),  # {type, timestamp, data} before labels
    Column("body", Text),  # the exact bytes sent, fixed at the first attempt
    Column("status", String(16), nullable=False),  # pending, sending, delivered, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),  # also the lease end while `sending`
    Column("claim", String(32)),
    Column("last_status", Integer),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Index("webhook_deliveries_due", "status", "next_attempt_at"),
    Index("webhook_deliveries_created", "created_at"),
    Index("webhook_deliveries_msg", "msg_id"),
)


@migration("webhooks.0001", "Smile events and accounts; outbound webhook endpoints and deliveries")
def _create_tables(conn: Connection) -> None:
    for table in (smile_events, smile_accounts, webhook_endpoints, webhook_deliveries):
        table.create(conn)
