//! The audit log's table and the SQL that records changes in it.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ACTOR_PARAM, TENANT_PARAM, literal};
use crate::entity::EntityMeta;
use crate::error::Result;
use crate::value::{Args, SqlValue};

/// The library's audit log table.
pub(crate) const AUDIT_LOG_TABLE: &str = "tenant_audit_log";

/// Creates the audit log, idempotently. Ids are UUIDv7, made from `clock_timestamp()` so
/// they follow the order in which rows were locked and changed.
pub(crate) const AUDIT_LOG_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS tenant_audit_log (
    id             uuid        NOT NULL DEFAULT (encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                                   PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                                   FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid),
    tenant_id      uuid        NOT NULL,
    entity         text        NOT NULL,
    entity_id      uuid        NOT NULL,
    action         text        NOT NULL CHECK (action IN ('insert', 'update', 'delete', 'restore', 'purge')),
    changes        jsonb       NOT NULL,
    actor          uuid,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS tenant_audit_log_entity_idx
    ON tenant_audit_log (tenant_id, entity, entity_id, recorded_at, id);
CREATE INDEX IF NOT EXISTS tenant_audit_log_time_idx
    ON tenant_audit_log (tenant_id, recorded_at, id);
"#;

/// How the `changes` of a record are computed from the rows a statement saw.
pub(crate) enum Diff<'a> {
    /// Every column of the new row `alias`, as `{"from": null, "to": value}`.
    Created(&'a str),
    /// Every column whose value differs between `old` and `new`, except `updated_at`.
    Changed {
        old: &'a str,
        new: &'a str,
        ignore: Option<&'a str>,
    },
    /// Every column of the removed row `alias`, as `{"from": value, "to": null}`.
    Removed(&'a str),
}

impl Diff<'_> {
    fn expression(&self) -> String {
        match self {
            Diff::Created(row) => format!(
                "(SELECT jsonb_object_agg(c.key, jsonb_build_object('from', NULL::jsonb, 'to', c.value)) \
                 FROM jsonb_each(to_jsonb({row})) AS c)"
            ),
            Diff::Removed(row) => format!(
                "(SELECT jsonb_object_agg(c.key, jsonb_build_object('from', c.value, 'to', NULL::jsonb)) \
                 FROM jsonb_each(to_jsonb({row})) AS c)"
            ),
            Diff::Changed { old, new, ignore } => {
                let ignored = ignore.map(|column| format!(" AND b.key <> {}", literal(column)));
                format!(
                    "(SELECT coalesce(jsonb_object_agg(b.key, jsonb_build_object('from', a.value, 'to', b.value)), '{{}}'::jsonb) \
                     FROM jsonb_each(to_jsonb({old})) AS a JOIN jsonb_each(to_jsonb({new})) AS b ON a.key = b.key \
                     WHERE a.value IS DISTINCT FROM b.value{})",
                    ignored.unwrap_or_default()
                )
            }
        }
    }
}

/// A CTE member (`audit AS (...)`) that records `action` for each row of `from`,
/// identified by `entity_id`, skipping rows whose diff is empty.
pub(crate) fn record_cte(
    meta: &EntityMeta,
    action: &str,
    from: &str,
    entity_id: &str,
    diff: Diff<'_>,
) -> String {
    format!(
        "audit AS (INSERT INTO {AUDIT_LOG_TABLE} (tenant_id, entity, entity_id, action, changes, actor) \
         SELECT {TENANT_PARAM}, {entity}, r.entity_id, {action}, r.changes, {ACTOR_PARAM} \
         FROM (SELECT {entity_id} AS entity_id, {diff} AS changes FROM {from}) AS r \
         WHERE r.changes <> '{{}}'::jsonb)",
        entity = literal(meta.table),
        action = literal(action),
        diff = diff.expression(),
    )
}

/// The optional predicates of an audit log read.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditFilter {
    pub(crate) entity: Option<&'static str>,
    pub(crate) entity_id: Option<Uuid>,
    pub(crate) actor: Option<Uuid>,
    pub(crate) action: Option<&'static str>,
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) after: Option<(DateTime<Utc>, Uuid)>,
    pub(crate) limit: Option<i64>,
}

/// ` AND <column> <op> $n`, binding `value` as `$n`.
fn and<T: SqlValue>(
    sql: &mut String,
    args: &mut Args,
    column: &'static str,
    op: &str,
    value: T,
) -> Result<()> {
    args.push(column, value)?;
    let _ = write!(sql, " AND {column} {op} ${}", args.len());
    Ok(())
}

/// A read of the scope's audit log (`$1` is the tenant), oldest first.
pub(crate) fn render_audit_select(filter: AuditFilter, args: &mut Args) -> Result<String> {
    let mut sql = format!(
        "SELECT id, tenant_id, entity, entity_id, action, changes, actor, \
         transaction_id::text::bigint AS transaction_id, recorded_at \
         FROM {AUDIT_LOG_TABLE} WHERE tenant_id = {TENANT_PARAM}"
    );
    if let Some(entity) = filter.entity {
        and(&mut sql, args, "entity", "=", entity)?;
    }
    if let Some(id) = filter.entity_id {
        and(&mut sql, args, "entity_id", "=", id)?;
    }
    if let Some(actor) = filter.actor {
        and(&mut sql, args, "actor", "=", actor)?;
    }
    if let Some(action) = filter.action {
        and(&mut sql, args, "action", "=", action)?;
    }
    if let Some(since) = filter.since {
        and(&mut sql, args, "recorded_at", ">=", since)?;
    }
    if let Some(until) = filter.until {
        and(&mut sql, args, "recorded_at", "<", until)?;
    }
    if let Some((recorded_at, id)) = filter.after {
        args.push("recorded_at", recorded_at)?;
        args.push("id", id)?;
        let _ = write!(
            sql,
            " AND (recorded_at, id) > (${}, ${})",
            args.len() - 1,
            args.len()
        );
    }
    sql.push_str(" ORDER BY recorded_at, id");
    if let Some(limit) = filter.limit {
        args.push("limit", limit)?;
        let _ = write!(sql, " LIMIT ${}", args.len());
    }
    Ok(sql)
}
