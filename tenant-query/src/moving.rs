//! Moving a tenant between homes (shared tables, a schema, a cell), without losing or
//! doubling a write.
//!
//! The procedure [`TenantMove::run`] follows, for a tenant at epoch `e`:
//!
//! 1. The directory marks the tenant [`ReadOnly`](crate::placement::PlacementState) at
//!    epoch `e`, so callers with a fresh view fail fast with [`Error::TenantReadOnly`].
//! 2. The old home's fence is set to read-only. Each database keeps a fence table
//!    (`tenant_query.fences`: tenant, home, epoch, state), checked in the first round trip
//!    of every placed transaction, and a writing transaction holds a shared advisory lock
//!    on (tenant, home) until it ends. The move sets the fence under the exclusive side of
//!    that lock: it waits for the writes already past the check to end, and every later
//!    write there, however stale the caller's directory, is refused. From here the old
//!    home is frozen.
//! 3. The tenant's rows of every entity named (a `via` entity's through its parents, live
//!    or deleted), and its audit log, are read from the old home in one `REPEATABLE READ`
//!    snapshot.
//! 4. In one transaction in the new home: any rows the tenant left there (a move
//!    interrupted before) are deleted, the snapshot is inserted, the sequences behind ids
//!    the database makes move past the copied ids, and the new home's fence is set active
//!    at epoch `e + 1`.
//! 5. In one transaction in the old home: its fence becomes `moved` at `e + 1` (every
//!    statement routed there now fails with [`Error::StalePlacement`], reads included) and
//!    the tenant's rows there are deleted.
//! 6. The directory records the new home, active, at `e + 1`.
//!
//! Interrupted, the move is run again: it resumes at step 6 when step 5 had committed, and
//! otherwise starts over (the old home is still complete and frozen). Callers that meet
//! [`Error::TenantReadOnly`] or [`Error::StalePlacement`] retry after a pause; the
//! directory's cache of the tenant has then been dropped.
//!
//! The copy goes through `jsonb` (`to_jsonb` / `jsonb_populate_recordset`), so the homes'
//! tables must have the same columns; `GENERATED ALWAYS` columns (identities, stored
//! generated columns) are not supported, and refused before the move starts. List
//! parents before children (foreign keys; a `via` entity's parent must be listed before
//! it, or the move is [`Error::Configuration`]); the audit log comes along without being
//! named.

use sqlx::{AssertSqlSafe, PgPool, Postgres};

use crate::db::TenantDb;
use crate::entity::TenantEntity;
use crate::error::{Error, Result};
use crate::key::Key;
use crate::meta::EntityMeta;
use crate::placement::{self, Placement, PlacementState, TenantPlacement};
use crate::scope::TenantScope;
use crate::sql::{self, fence};

/// A move of one tenant to another home, with the entities whose rows go with it. Made by
/// [`TenantDb::move_tenant`].
#[derive(Debug)]
pub struct TenantMove<'a> {
    db: &'a TenantDb,
    /// The tenant's text, as the directory and the fences know it (checked).
    tenant: String,
    to: TenantPlacement,
    /// The entities whose rows move, parents first.
    entities: Vec<&'static EntityMeta>,
}

impl TenantDb {
    /// Starts a move of `scope`'s tenant to `to`, named by its reason like
    /// [`cross_tenant`](Self::cross_tenant) (an empty reason is [`Error::Configuration`]);
    /// see [`moving`](crate::moving) for the procedure. Needs
    /// [`with_placements`](Self::with_placements) with a directory that can record.
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # use tenant_query::placement::{SchemaName, TenantPlacement};
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "projects")]
    /// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
    /// # async fn run(db: TenantDb, scope: TenantScope) -> tenant_query::Result<()> {
    /// let to = TenantPlacement::Schema(SchemaName::new("tenant_big")?);
    /// db.migrate_home(&to).await?;
    /// db.move_tenant("tenant outgrew the shared tables", &scope, to)?
    ///     .entity::<Project>()
    ///     .run()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn move_tenant<T: Key>(
        &self,
        reason: &'static str,
        scope: &TenantScope<T>,
        to: TenantPlacement,
    ) -> Result<TenantMove<'_>> {
        if reason.trim().is_empty() {
            return Err(Error::Configuration(
                "move_tenant needs a reason: say why this tenant moves".into(),
            ));
        }
        self.placements()?;
        tracing::info!(target: "tenant_query::cross_tenant", reason, "tenant move");
        Ok(TenantMove {
            db: self,
            tenant: placement::tenant_key(scope)?,
            to,
            entities: Vec::new(),
        })
    }
}

impl TenantMove<'_> {
    /// Moves the tenant's rows of `E` too (name parents before their children).
    pub fn entity<E: TenantEntity>(mut self) -> Self {
        self.entities.push(E::meta());
        self
    }

    /// Runs the move; returns the new placement.
    pub async fn run(self) -> Result<Placement> {
        self.check_via_order()?;
        let placements = self.db.placements()?;
        let directory = &placements.directory;
        let tenant = self.tenant.clone();
        directory.invalidate(&tenant);
        let from = directory.resolve(&tenant).await?;
        if from.home == self.to {
            return Err(Error::Configuration(
                "the tenant already lives in that home".into(),
            ));
        }
        let epoch = from.epoch;
        let (old, new) = (self.home(&from.home)?, self.home(&self.to)?);
        self.check_copyable(&old, &from.home).await?;
        let (old_key, new_key) = (from.home.home_key(), self.to.home_key());
        let moved = Placement {
            home: self.to.clone(),
            epoch: epoch + 1,
            state: PlacementState::Active,
        };

        // 1. Fail fast for callers with a fresh view.
        let read_only = Placement {
            state: PlacementState::ReadOnly,
            ..from.clone()
        };
        directory.record(&tenant, read_only).await?;

        // 2. Freeze the old home, unless an earlier run got past step 5.
        let mut tx = old.begin().await?;
        raw(&mut tx, fence::lock(&tenant, &old_key)).await?;
        let state: Option<(i64, String)> = sqlx::query_as(
            "SELECT epoch, state FROM tenant_query.fences WHERE tenant_id = $1 AND home = $2",
        )
        .bind(&tenant)
        .bind(&old_key)
        .fetch_optional(&mut *tx)
        .await?;
        if state
            .as_ref()
            .is_some_and(|(e, s)| *e == epoch + 1 && s == "moved")
        {
            tx.rollback().await?;
            directory.record(&tenant, moved.clone()).await?;
            return Ok(moved);
        }
        raw(&mut tx, fence::set(&tenant, &old_key, epoch, "read_only")).await?;
        tx.commit().await?;

        // 3. One snapshot of the frozen old home.
        let mut tx = old.begin().await?;
        raw(
            &mut tx,
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY".into(),
        )
        .await?;
        raw_settings(&mut tx, self.settings(&from.home)).await?;
        let mut snapshot = Vec::new();
        for (table, rows_of_tenant) in self.all_tables(&tenant) {
            let sql = format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]')::text FROM {} AS t WHERE {rows_of_tenant}",
                sql::table(table),
            );
            let rows: String = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_one(&mut *tx)
                .await?;
            snapshot.push((table, rows));
        }
        tx.commit().await?;

        // 4. Fill the new home and open it at the new epoch.
        let mut tx = new.begin().await?;
        raw_settings(&mut tx, self.settings(&self.to)).await?;
        raw(&mut tx, fence::lock(&tenant, &new_key)).await?;
        self.delete_rows(&mut tx, &tenant).await?;
        for (table, rows) in &snapshot {
            let table = sql::table(table);
            let sql = format!(
                "INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, $1::jsonb)"
            );
            sqlx::query::<Postgres>(AssertSqlSafe(sql))
                .bind(rows)
                .execute(&mut *tx)
                .await?;
        }
        self.advance_sequences(&mut tx).await?;
        raw(&mut tx, fence::set(&tenant, &new_key, epoch + 1, "active")).await?;
        tx.commit().await?;

        // 5. Retire the old home.
        let mut tx = old.begin().await?;
        raw_settings(&mut tx, self.settings(&from.home)).await?;
        raw(&mut tx, fence::lock(&tenant, &old_key)).await?;
        raw(&mut tx, fence::set(&tenant, &old_key, epoch + 1, "moved")).await?;
        self.delete_rows(&mut tx, &tenant).await?;
        tx.commit().await?;

        // 6. Point the directory at the new home.
        directory.record(&tenant, moved.clone()).await?;
        Ok(moved)
    }

    /// A `via` entity's rows are found through its parent's: the parent must move too, and
    /// be named before it (the old home deletes children first, through parents still
    /// there). Checked before anything moves.
    fn check_via_order(&self) -> Result<()> {
        for (i, meta) in self.entities.iter().enumerate() {
            let Some(relation) = meta.via else { continue };
            let parent = (relation.parent)();
            if !self.entities[..i].iter().any(|m| m.table == parent.table) {
                return Err(Error::Configuration(
                    format!(
                        "`{}` reaches its tenant through `{}`: name `{}` in the move, before it",
                        meta.table, parent.table, parent.table
                    )
                    .into(),
                ));
            }
        }
        Ok(())
    }

    /// The copy keeps the ids the database made in the old home; the new home's sequence
    /// behind such an id moves past the largest one now there, so that it never hands a
    /// copied id out again (the tenant's next insert would collide with its own row).
    async fn advance_sequences(&self, conn: &mut sqlx::PgConnection) -> Result<()> {
        for meta in self.entities.iter().filter(|m| m.id.generated) {
            let table = sql::table(meta.table);
            let sequence: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                    .bind(&table)
                    .bind(meta.id.name)
                    .fetch_one(&mut *conn)
                    .await?;
            let Some(sequence) = sequence else { continue };
            let sql = format!(
                "SELECT setval($1::regclass, m) FROM (SELECT max({}) AS m FROM {table}) AS t \
                 WHERE m > coalesce(pg_sequence_last_value($1::regclass), 0)",
                sql::ident(meta.id.name)
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(&sequence)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// The copy inserts every column as read, so a column the database insists on
    /// writing itself (`GENERATED ALWAYS AS IDENTITY`, `GENERATED ALWAYS AS (...)`) would
    /// fail it halfway, with the tenant already read-only and every retry failing alike.
    /// Checked in the old home before the directory is touched.
    async fn check_copyable(&self, old: &PgPool, home: &TenantPlacement) -> Result<()> {
        let mut tx = old.begin().await?;
        raw_settings(&mut tx, self.settings(home)).await?;
        for meta in &self.entities {
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT a.attname::text FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                 AND (a.attidentity = 'a' OR a.attgenerated <> '') ORDER BY a.attnum",
            )
            .bind(sql::table(meta.table))
            .fetch_all(&mut *tx)
            .await?;
            if !columns.is_empty() {
                return Err(Error::Configuration(
                    format!(
                        "a move copies every column, but the database writes `{}.{}` itself \
                         (GENERATED ALWAYS): use GENERATED BY DEFAULT AS IDENTITY for ids, \
                         and no stored generated columns in moved tables",
                        meta.table,
                        columns.join("`, `")
                    )
                    .into(),
                ));
            }
        }
        tx.rollback().await?;
        Ok(())
    }

    /// The tables that move, each with the condition (on alias `t`) that selects the
    /// tenant's rows: the entities named (a `via` entity's through its parents), then the
    /// audit log.
    fn all_tables(&self, tenant: &str) -> Vec<(&'static str, String)> {
        self.entities
            .iter()
            .map(|meta| (meta.table, sql::tenant_rows(meta, "t", tenant)))
            .chain([(
                sql::AUDIT_LOG_TABLE,
                format!("t.{} = {}", sql::ident("tenant_id"), sql::literal(tenant)),
            )])
            .collect()
    }

    /// Deletes the tenant's rows of every table that moves, children first (a `via`
    /// child is found through its parents, so it goes before them).
    async fn delete_rows(&self, conn: &mut sqlx::PgConnection, tenant: &str) -> Result<()> {
        for (table, rows_of_tenant) in self.all_tables(tenant).into_iter().rev() {
            let sql = format!(
                "DELETE FROM {} AS t WHERE {rows_of_tenant}",
                sql::table(table)
            );
            raw(conn, sql).await?;
        }
        Ok(())
    }

    /// The transaction-local settings of a transaction in `home`.
    fn settings(&self, home: &TenantPlacement) -> Vec<String> {
        let rls = self.db.backend().settings.rls_setting.as_deref();
        sql::rls::settings(rls, Some(&self.tenant), home.schema())
    }

    fn home(&self, home: &TenantPlacement) -> Result<PgPool> {
        match home.cell() {
            Some(cell) => self.db.placements()?.cells.pool(cell),
            None => Ok(self.db.backend().pool.clone()),
        }
    }
}

async fn raw(conn: &mut sqlx::PgConnection, sql: String) -> Result<()> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(conn).await?;
    Ok(())
}

async fn raw_settings(conn: &mut sqlx::PgConnection, calls: Vec<String>) -> Result<()> {
    if calls.is_empty() {
        return Ok(());
    }
    raw(conn, format!("SELECT {}", calls.join(", "))).await
}
