"""Gauges of the audit outbox, read from PostgreSQL at scrape time: events not yet chained,
how far each sink trails the chain, and webhook deliveries that are failing.

Read from the database rather than counted by the relay, so every replica of every service
reports the same numbers whichever relay process did the work (docs/metrics.md).
"""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# One statement; each part walks an index (audit_events_unchained, the (service, sequence)
# key, the cursors' and subscriptions' primary keys).
_OUTBOX = text(
    """
    WITH head AS (SELECT sequence FROM audit_chain_state WHERE service = :service),
    oldest AS (
        SELECT recorded_at FROM audit_events
        WHERE service = :service AND sequence IS NULL ORDER BY id LIMIT 1
    ),
    sinks AS (
        SELECT c.sink, greatest((SELECT sequence FROM head) - c.sequence, 0) AS behind,
               (SELECT e.recorded_at FROM audit_events e
                 WHERE e.service = :service AND e.sequence = c.sequence + 1) AS oldest
        FROM audit_relay_cursors c WHERE c.service = :service
        UNION ALL
        SELECT 'webhooks', greatest((SELECT sequence FROM head) - min(d.sequence), 0), NULL
        FROM webhook_subscriptions s JOIN webhook_deliveries d ON d.subscription_id = s.id
        WHERE s.service = :service AND s.deleted_at IS NULL HAVING count(*) > 0
    )
    SELECT
      (SELECT count(*) FROM audit_events WHERE service = :service AND sequence IS NULL)
        AS unchained,
      (SELECT extract(epoch FROM now() - recorded_at) FROM oldest) AS unchained_age,
      (SELECT coalesce(json_agg(json_build_array(sink, behind,
                extract(epoch FROM now() - oldest))), '[]') FROM sinks) AS sinks,
      (SELECT count(*) FROM webhook_subscriptions s
         JOIN webhook_deliveries d ON d.subscription_id = s.id
        WHERE s.service = :service AND s.deleted_at IS NULL AND d.attempts > 0) AS failing,
      (SELECT count(*) FROM webhook_dead_letters
        WHERE service = :service AND replayed_at IS NULL) AS dead_letters
    """
)


async def outbox_families(conn: AsyncConnection, service: str) -> list[Metric]:
    row = (await conn.execute(_OUTBOX, {"service": service})).one()
    labels = ["service"]
    unchained = GaugeMetricFamily(
        "lupa_audit_unchained_events",
        "Audit events committed but not yet chained by the relay.",
        labels=labels,
    )
    unchained.add_metric([service], row.unchained)
    age = GaugeMetricFamily(
        "lupa_audit_unchained_oldest_age_seconds",
        "Age of the oldest audit event not yet chained (0 when none waits).",
        labels=labels,
    )
    age.add_metric([service], float(row.unchained_age or 0))
    behind = GaugeMetricFamily(
        "lupa_audit_undelivered_events",
        "Chained audit events a sink has not acknowledged yet (webhooks: the furthest behind "
        "live subscription).",
        labels=["service", "sink"],
    )
    behind_age = GaugeMetricFamily(
        "lupa_audit_undelivered_oldest_age_seconds",
        "Age of the oldest chained event a sink has not acknowledged (NATS; 0 when caught up).",
        labels=["service", "sink"],
    )
    for sink, count, oldest in row.sinks:
        behind.add_metric([service, sink], count)
        if sink != "webhooks":
            behind_age.add_metric([service, sink], float(oldest or 0))
    failing = GaugeMetricFamily(
        "lupa_webhook_failing_subscriptions",
        "Live webhook subscriptions whose latest delivery attempt failed (retrying).",
        labels=labels,
    )
    failing.add_metric([service], row.failing)
    dead = GaugeMetricFamily(
        "lupa_webhook_dead_letters",
        "Webhook deliveries given up after every retry and not replayed yet.",
        labels=labels,
    )
    dead.add_metric([service], row.dead_letters)
    return [unchained, age, behind, behind_age, failing, dead]
