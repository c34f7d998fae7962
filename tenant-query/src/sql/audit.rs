//! The audit log's table and the SQL that records changes in it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::alias::{self, CHANGED, INSERTED, REMOVED};
use super::plan::{Dynamic, Param, Plan};
use super::{column, literal};
use crate::action::AuditAction;
use crate::meta::{ColumnMeta, ColumnRole, EntityMeta};
use crate::value::SqlValue;

/// The library's audit log table.
pub(crate) const AUDIT_LOG_TABLE: &str = "tenant_audit_log";

/// Creates the audit log, idempotently. Ids are UUIDv7, made from `clock_timestamp()` so
/// they follow the order in which rows were locked and changed. Two indexes, tenant first:
/// one per read (a tenant's log by time, a row's history); each write maintains both.
/// The tenant column has the deployment's tenant type (`uuid` here; see
/// [`audit_log_ddl`]), so that the log is distributed and co-located with the entities'
/// tables on a tenant-distributed PostgreSQL. Row ids are stored as text, so one log holds
/// entities of every id type; a log made with a `uuid` id column by an earlier version is
/// converted in place.
pub(crate) const AUDIT_LOG_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS tenant_audit_log (
    id             uuid        NOT NULL DEFAULT (encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                                   PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                                   FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid),
    tenant_id      uuid        NOT NULL,
    entity         text        NOT NULL,
    entity_id      text        NOT NULL,
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
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = to_regclass('tenant_audit_log') AND attname = 'entity_id'
                 AND atttypid = 'uuid'::regtype) THEN
        ALTER TABLE tenant_audit_log ALTER COLUMN entity_id TYPE text USING entity_id::text;
    END IF;
END
$$;
"#;

/// The tenant column's declaration in [`AUDIT_LOG_DDL`], the one part that depends on
/// the deployment's tenant type.
const TENANT_COLUMN: &str = "tenant_id      uuid ";

/// [`AUDIT_LOG_DDL`] for tenants of SQL type `tenant_type` (`uuid`, `int8`, `text`, ...).
pub(crate) fn audit_log_ddl(tenant_type: &str) -> String {
    AUDIT_LOG_DDL.replacen(
        TENANT_COLUMN,
        &format!("tenant_id      {} ", tenant_type.to_lowercase()),
        1,
    )
}

/// How the `changes` of a record are computed from the rows a statement saw. The
/// expressions are spelled out per column, from the entity's metadata: a generic
/// `jsonb_each(to_jsonb(row))` diff costs several times more per write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Diff {
    /// Every column of the inserted row, as `{"from": null, "to": value}`.
    Created,
    /// Every column whose value differs between the old and the new values of the
    /// changed row (see [`alias::old_value`]), except `updated_at`. Rows where none
    /// differs get no record.
    Changed,
    /// Every column of the removed row, as `{"from": value, "to": null}`.
    Removed,
}

impl Diff {
    /// The columns a diff of `meta` reports. An update's diff leaves out the columns no
    /// update changes (the id, the tenant, `created_at`) and `updated_at`, which moves
    /// with every change: comparing them would only cost time.
    fn reported(self, meta: &EntityMeta) -> impl Iterator<Item = &ColumnMeta> {
        meta.columns.iter().filter(move |c| {
            !matches!(self, Diff::Changed)
                || !matches!(
                    c.role,
                    ColumnRole::Id
                        | ColumnRole::TenantId
                        | ColumnRole::CreatedAt
                        | ColumnRole::UpdatedAt
                )
        })
    }

    /// The `changes` value of a row aliased `row`: one `jsonb_build_object` per column,
    /// concatenated (one call for all columns could exceed PostgreSQL's 100 arguments).
    fn expression(self, meta: &EntityMeta, row: &str) -> String {
        let r = Some(row);
        let entries: Vec<String> = self
            .reported(meta)
            .map(|c| {
                let (key, value) = (literal(c.name), column(r, c));
                match self {
                    Diff::Created => format!(
                        "jsonb_build_object({key}, jsonb_build_object('from', NULL::jsonb, 'to', {value}))"
                    ),
                    Diff::Removed => format!(
                        "jsonb_build_object({key}, jsonb_build_object('from', {value}, 'to', NULL::jsonb))"
                    ),
                    Diff::Changed => {
                        let old = format!("{row}.{}", alias::old_value(c.index));
                        format!(
                            "CASE WHEN {old} IS DISTINCT FROM {value} \
                             THEN jsonb_build_object({key}, jsonb_build_object('from', {old}, 'to', {value})) \
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
    fn condition(self, meta: &EntityMeta, row: &str) -> String {
        if !matches!(self, Diff::Changed) {
            return String::new();
        }
        format!(" WHERE {}", self.changed(meta, row))
    }

    /// Whether any reported column differs between the old and new values of `row`.
    fn changed(self, meta: &EntityMeta, row: &str) -> String {
        let (old, new): (Vec<String>, Vec<String>) = self
            .reported(meta)
            .map(|c| {
                (
                    format!("{row}.{}", alias::old_value(c.index)),
                    column(Some(row), c),
                )
            })
            .unzip();
        format!(
            "ROW({}) IS DISTINCT FROM ROW({})",
            old.join(", "),
            new.join(", ")
        )
    }

    /// The CTE each kind of diff reads its rows from.
    pub(crate) fn source(self) -> &'static str {
        match self {
            Diff::Created => INSERTED,
            Diff::Changed => CHANGED,
            Diff::Removed => REMOVED,
        }
    }
}

/// A CTE member (`audit AS (...)`) that records `action` for each row of the CTE the
/// diff reads (see [`Diff::source`]).
pub(crate) fn record_cte(
    plan: &mut Plan,
    meta: &EntityMeta,
    action: AuditAction,
    diff: Diff,
) -> String {
    let (row, cte) = (alias::ROW, diff.source());
    let (id_column, id) = record_id(plan);
    format!(
        "{} AS (INSERT INTO {AUDIT_LOG_TABLE} ({id_column}tenant_id, entity, entity_id, action, changes, actor) \
         SELECT {id}{}, {}, {}::text, {}, {}, {} FROM {cte} AS {row}{})",
        alias::AUDIT,
        plan.param(Param::Tenant),
        literal(meta.table),
        column(Some(row), meta.id),
        literal(action.as_str()),
        diff.expression(meta, row),
        plan.param(Param::Actor),
        diff.condition(meta, row),
    )
}

/// The audit CTE of an upsert: per row of the upserted CTE, an insert record (every
/// column) or an update record (the columns that changed from the locked existing row),
/// as the row's `inserted` flag says; an update that changed nothing records nothing.
pub(crate) fn record_upsert_cte(plan: &mut Plan, meta: &EntityMeta) -> String {
    let row = alias::ROW;
    let inserted = format!("{row}.{}", alias::inserted());
    let (id_column, id) = record_id(plan);
    format!(
        "{} AS (INSERT INTO {AUDIT_LOG_TABLE} ({id_column}tenant_id, entity, entity_id, action, changes, actor) \
         SELECT {id}{}, {}, {}::text, CASE WHEN {inserted} THEN {} ELSE {} END, \
         CASE WHEN {inserted} THEN {} ELSE {} END, {} \
         FROM (SELECT * FROM {} LEFT JOIN {} ON true) AS {row} \
         WHERE {inserted} OR ({}))",
        alias::AUDIT,
        plan.param(Param::Tenant),
        literal(meta.table),
        column(Some(row), meta.id),
        literal(AuditAction::Insert.as_str()),
        literal(AuditAction::Update.as_str()),
        Diff::Created.expression(meta, row),
        Diff::Changed.expression(meta, row),
        plan.param(Param::Actor),
        alias::UPSERTED,
        alias::EXISTING,
        Diff::Changed.changed(meta, row),
    )
}

/// The id column and value of a record, when the plan binds one (`id, ` and `$n, `).
fn record_id(plan: &mut Plan) -> (&'static str, String) {
    match plan.audit_id() {
        Some(id) => ("id, ", format!("{id}, ")),
        None => ("", String::new()),
    }
}

/// The optional predicates of an audit log read.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditFilter {
    pub(crate) entity: Option<&'static str>,
    pub(crate) entity_id: Option<std::sync::Arc<dyn crate::key::ErasedKey>>,
    pub(crate) actor: Option<Uuid>,
    pub(crate) action: Option<AuditAction>,
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) after: Option<(DateTime<Utc>, Uuid)>,
    pub(crate) limit: Option<i64>,
}

/// ` AND <column> <op> <value>`.
fn and<T: SqlValue + 'static>(sql: &mut Dynamic, column: &'static str, op: &str, value: T) {
    sql.write(format_args!(" AND {column} {op} "))
        .value(column, Box::new(value));
}

/// A read of the scope's audit log, oldest first.
pub(crate) fn render_audit_select(filter: AuditFilter) -> Dynamic {
    let mut sql = Dynamic::default();
    sql.push(
        "SELECT id, tenant_id::text AS tenant_id, entity, entity_id, action, changes, actor, \
         transaction_id::text::bigint AS transaction_id, recorded_at \
         FROM ",
    )
    .push(AUDIT_LOG_TABLE)
    .push(" WHERE tenant_id = ")
    .param(Param::Tenant);
    if let Some(entity) = filter.entity {
        and(&mut sql, "entity", "=", entity);
    }
    if let Some(id) = filter.entity_id {
        // Keys are stored as PostgreSQL prints them; the key's own type is cast to text.
        sql.push(" AND entity_id = ")
            .value("entity_id", id.boxed())
            .push("::text");
    }
    if let Some(actor) = filter.actor {
        and(&mut sql, "actor", "=", actor);
    }
    if let Some(action) = filter.action {
        and(&mut sql, "action", "=", action.as_str());
    }
    if let Some(since) = filter.since {
        and(&mut sql, "recorded_at", ">=", since);
    }
    if let Some(until) = filter.until {
        and(&mut sql, "recorded_at", "<", until);
    }
    if let Some((recorded_at, id)) = filter.after {
        sql.push(" AND (recorded_at, id) > (")
            .value("recorded_at", Box::new(recorded_at))
            .push(", ")
            .value("id", Box::new(id))
            .push(")");
    }
    sql.push(" ORDER BY recorded_at, id");
    if let Some(limit) = filter.limit {
        sql.push(" LIMIT ").value("limit", Box::new(limit));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_type_is_the_one_part_that_varies() {
        assert!(AUDIT_LOG_DDL.contains(TENANT_COLUMN));
        let bigint = audit_log_ddl("INT8");
        assert!(bigint.contains("tenant_id      int8 "));
        assert_eq!(
            bigint.replace("int8", "uuid"),
            AUDIT_LOG_DDL.replace("int8", "uuid")
        );
    }

    #[test]
    fn the_log_accepts_exactly_the_library_actions() {
        let listed: Vec<String> = AuditAction::ALL
            .iter()
            .map(|a| literal(a.as_str()))
            .collect();
        assert!(AUDIT_LOG_DDL.contains(&format!("action IN ({})", listed.join(", "))));
    }
}
