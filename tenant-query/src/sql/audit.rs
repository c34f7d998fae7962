//! The audit log's table and the SQL that records changes in it.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ACTOR_PARAM, TENANT_PARAM, ident, literal};
use crate::entity::{ColumnMeta, ColumnRole, EntityMeta};
use crate::error::Result;
use crate::value::{Args, SqlValue};

/// The library's audit log table.
pub(crate) const AUDIT_LOG_TABLE: &str = "tenant_audit_log";

/// Creates the audit log, idempotently. Ids are UUIDv7, made from `clock_timestamp()` so
/// they follow the order in which rows were locked and changed. Two indexes, tenant first:
/// one per read (a tenant's log by time, a row's history); each write maintains both.
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
    -- Serves the time-ordered reads of a tenant's log; ids alone are unique already.
    PRIMARY KEY (tenant_id, recorded_at, id)
);
CREATE INDEX IF NOT EXISTS tenant_audit_log_entity_idx
    ON tenant_audit_log (tenant_id, entity, entity_id, recorded_at, id);
"#;

/// How the `changes` of a record are computed from the rows a statement saw. The
/// expressions are spelled out per column, from the entity's metadata: a generic
/// `jsonb_each(to_jsonb(row))` diff costs several times more per write.
pub(crate) enum Diff {
    /// Every column of the new row `n`, as `{"from": null, "to": value}`.
    Created,
    /// Every column whose value differs between the old and the new values of the
    /// changed row `c` (see [`old_value`]), except `updated_at`. Rows where none differs
    /// get no record.
    Changed,
    /// Every column of the removed row `o`, as `{"from": value, "to": null}`.
    Removed,
}

/// The output name under which an `UPDATE ... RETURNING` hands back the old value of
/// column number `index`, next to the new values.
pub(crate) fn old_value(index: usize) -> String {
    ident(&format!("tq_old_{index}"))
}

impl Diff {
    /// The columns a diff of `meta` reports, with their position.
    fn reported<'m>(&self, meta: &'m EntityMeta) -> impl Iterator<Item = (usize, &'m ColumnMeta)> {
        let changed = matches!(self, Diff::Changed);
        meta.columns
            .iter()
            .enumerate()
            .filter(move |(_, c)| !changed || c.role != ColumnRole::UpdatedAt)
    }

    /// The `changes` value: one `jsonb_build_object` per column, concatenated (one call
    /// for all columns could exceed PostgreSQL's 100 arguments).
    fn expression(&self, meta: &EntityMeta) -> String {
        let entries: Vec<String> = self
            .reported(meta)
            .map(|(i, c)| {
                let (key, column) = (literal(c.name), ident(c.name));
                match self {
                    Diff::Created => format!(
                        "jsonb_build_object({key}, jsonb_build_object('from', NULL::jsonb, 'to', n.{column}))"
                    ),
                    Diff::Removed => format!(
                        "jsonb_build_object({key}, jsonb_build_object('from', o.{column}, 'to', NULL::jsonb))"
                    ),
                    Diff::Changed => {
                        let old = format!("c.{}", old_value(i));
                        format!(
                            "CASE WHEN {old} IS DISTINCT FROM c.{column} \
                             THEN jsonb_build_object({key}, jsonb_build_object('from', {old}, 'to', c.{column})) \
                             ELSE '{{}}'::jsonb END"
                        )
                    }
                }
            })
            .collect();
        if entries.is_empty() {
            "'{}'::jsonb".to_owned()
        } else {
            entries.join(" || ")
        }
    }

    /// The condition for writing a record at all: an update records only real changes.
    fn condition(&self, meta: &EntityMeta) -> Option<String> {
        if !matches!(self, Diff::Changed) {
            return None;
        }
        let (old, new): (Vec<String>, Vec<String>) = self
            .reported(meta)
            .map(|(i, c)| {
                (
                    format!("c.{}", old_value(i)),
                    format!("c.{}", ident(c.name)),
                )
            })
            .unzip();
        Some(format!(
            "ROW({}) IS DISTINCT FROM ROW({})",
            old.join(", "),
            new.join(", ")
        ))
    }
}

/// A CTE member (`audit AS (...)`) that records `action` for each row of `from` (which
/// names the old row `o` and/or the new row `n`), identified by `entity_id`.
pub(crate) fn record_cte(
    meta: &EntityMeta,
    action: &str,
    from: &str,
    entity_id: &str,
    diff: Diff,
) -> String {
    let condition = diff
        .condition(meta)
        .map(|c| format!(" WHERE {c}"))
        .unwrap_or_default();
    format!(
        "audit AS (INSERT INTO {AUDIT_LOG_TABLE} (tenant_id, entity, entity_id, action, changes, actor) \
         SELECT {TENANT_PARAM}, {entity}, {entity_id}, {action}, {changes}, {ACTOR_PARAM} FROM {from}{condition})",
        entity = literal(meta.table),
        action = literal(action),
        changes = diff.expression(meta),
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
