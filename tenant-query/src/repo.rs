//! The entity functions the derive exposes (`Project::find`, `Project::insert`, ...),
//! written once, generically, over [`TenantEntity`]. Each binds its statement by walking
//! the statement's plan ([`Statement::bind`]).

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::AssertSqlSafe;

use crate::entity::{SoftDelete, TenantEntity, UniqueKey};
use crate::error::{Error, Result};
use crate::exec::Route;
use crate::handle::{Scoped, TenantExecutor};
use crate::key::Key;
use crate::meta::EntityMeta;
use crate::sql::plan::Dynamic;
use crate::sql::{self, BulkWrite, DeletedRows, Input, SelectParts, Statement};
use crate::trace::{Operation, Summary};
use crate::value::{BindOnce, Values};

fn not_found<E: TenantEntity>() -> Error {
    Error::NotFound {
        entity: E::META.table,
    }
}

/// What a statement of `E` that runs `operation` does, for its span.
fn summary<E: TenantEntity>(operation: Operation) -> Summary {
    Summary::new(operation, E::META.table)
}

/// The command of `E`'s delete: an `UPDATE` of the soft-delete column, or a `DELETE`.
fn delete_operation<E: TenantEntity>() -> Operation {
    match E::META.soft_delete {
        Some(_) => Operation::Update,
        None => Operation::Delete,
    }
}

/// Binds `statement` for `input` and fetches its rows.
async fn rows<E: TenantEntity>(
    db: Scoped<'_, E::Tenant>,
    statement: &'static Statement,
    operation: Operation,
    input: Input<'_>,
) -> Result<Vec<E>> {
    let args = statement.bind(input)?;
    Route::new(db, summary::<E>(operation))
        .fetch_all(statement.sql(), args)
        .await
}

/// Binds `statement` for `input` and fetches its first row, if any.
async fn row<E: TenantEntity>(
    db: Scoped<'_, E::Tenant>,
    statement: &'static Statement,
    operation: Operation,
    input: Input<'_>,
) -> Result<Option<E>> {
    let args = statement.bind(input)?;
    Route::new(db, summary::<E>(operation))
        .fetch_optional(statement.sql(), args)
        .await
}

/// The live row `id`, if the scope's tenant has it.
pub async fn find<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    id: E::Id,
) -> Result<Option<E>> {
    let db = db.into_scoped();
    let input = Input::key(db.any_scope(), id);
    row(db, &E::statements().find, Operation::Select, input).await
}

/// The live row `id`; [`Error::NotFound`] if the scope's tenant has none.
pub async fn get<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    id: E::Id,
) -> Result<E> {
    find(db, id).await?.ok_or_else(not_found::<E>)
}

/// The live rows among `ids`, by id, in one query (none when `ids` is empty).
pub async fn find_many<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    ids: &[E::Id],
) -> Result<HashMap<E::Id, E>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let db = db.into_scoped();
    let input = Input::key(db.any_scope(), ids.to_vec());
    let found: Vec<E> = rows(db, &E::statements().find_many, Operation::Select, input).await?;
    Ok(found.into_iter().map(|row| (row.id(), row)).collect())
}

/// The insert statements of `E`: for an entity with `default` columns, built on first use
/// with the default expressions the database reports (once per process: the statements
/// stay fixed, and each `NULL` for such a column becomes `COALESCE($n, <default>)`, which
/// evaluates the default only when it applies). [`Error::Configuration`] when a `default`
/// column has no default in the database.
async fn inserts<E: TenantEntity>(db: &mut Scoped<'_, E::Tenant>) -> Result<&'static sql::Inserts> {
    let statements = E::statements();
    let meta = E::meta();
    if !meta.columns.iter().any(|c| c.default) {
        return Ok(&statements.inserts);
    }
    if let Some(inserts) = statements.defaulted.get() {
        return Ok(inserts);
    }
    let (statement, args) = sql::catalog::defaults(meta.table).bind(None)?;
    let found: Vec<(String, String)> = Route::new(db.reborrow(), Summary::select("pg_catalog"))
        .fetch_all(AssertSqlSafe(statement.into_sql()), args)
        .await?;
    let mut defaults = Vec::with_capacity(meta.columns.len());
    for column in meta.columns {
        let expression = found.iter().find(|(name, _)| name == column.name);
        match (column.default, expression) {
            (true, Some((_, expression))) => defaults.push(Some(expression.clone())),
            (true, None) => {
                return Err(Error::Configuration(
                    format!(
                        "`{}.{}` is marked `#[tenant(default)]` but has no default in the \
                         database: add `DEFAULT <expression>` to the column",
                        meta.table, column.name
                    )
                    .into(),
                ));
            }
            (false, _) => defaults.push(None),
        }
    }
    Ok(statements
        .defaulted
        .get_or_init(|| sql::Inserts::new(meta, &sql::Defaults(defaults))))
}

/// Inserts `new` with its id (a fresh UUIDv7, the caller's or the database's), the
/// scope's tenant and the current time. A `belongs_to` value that names no live parent of
/// the scope's tenant inserts nothing and is [`Error::ForeignKey`].
pub async fn insert<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    new: E::New,
) -> Result<E> {
    let mut db = db.into_scoped();
    let statement = &inserts::<E>(&mut db).await?.insert;
    let key = E::key_of_new(&new);
    let input = Input::maybe_key(db.any_scope(), key).with_data(E::new_values(new));
    row(db, statement, Operation::Insert, input)
        .await?
        .ok_or(Error::ForeignKey { constraint: None })
}

/// Inserts every row of `new` in one statement (one array per column), returning them in
/// input order; all of them or, if a `belongs_to` value names no live parent of the scope's
/// tenant, none ([`Error::ForeignKey`]). Makes no query when `new` is empty.
pub async fn insert_many<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    new: Vec<E::New>,
) -> Result<Vec<E>> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let mut db = db.into_scoped();
    let statement = &inserts::<E>(&mut db).await?.insert_many;
    let count = new.len();
    // Ids made by the database are not known here: rows then come back in the order the
    // statement inserted them, which is input order.
    let ids: Option<Vec<E::Id>> = new.iter().map(E::key_of_new).collect();
    let position: Option<HashMap<E::Id, usize>> = ids.as_ref().map(|ids| {
        ids.iter()
            .cloned()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect()
    });
    let input = Input::maybe_key(db.any_scope(), ids).with_data(E::new_many_values(new));
    let mut inserted: Vec<E> = rows(db, statement, Operation::Insert, input).await?;
    if inserted.len() != count {
        return Err(Error::ForeignKey { constraint: None });
    }
    if let Some(position) = position {
        inserted.sort_by_key(|row| position.get(&row.id()).copied());
    }
    Ok(inserted)
}

/// Applies `patch` to the live row `id`; [`Error::NotFound`] if there is none, and
/// [`Error::ForeignKey`] if the patch points a `belongs_to` column at no live parent of the
/// scope's tenant (then nothing is written).
pub async fn update<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    id: E::Id,
    patch: E::Patch,
) -> Result<E> {
    let mut db = db.into_scoped();
    let mut values = E::patch_values(patch);
    let parents = values.take_parents();
    let input = Input::key(db.any_scope(), id.clone()).with_data(values);
    if let Some(updated) = row(
        db.reborrow(),
        &E::statements().update,
        Operation::Update,
        input,
    )
    .await?
    {
        return Ok(updated);
    }
    // Tell a refused parent or a stale version from a missing row; these reads run only
    // on failure.
    if parent_missing(db.reborrow(), E::meta(), parents).await? {
        return Err(Error::ForeignKey { constraint: None });
    }
    if E::META.version.is_some() && find::<E>(db, id).await?.is_some() {
        return Err(Error::conflict(E::META.table));
    }
    Err(not_found::<E>())
}

/// Inserts `new`, or updates the live row of the scope's tenant with its values for
/// unique key `key`; one statement, audited as an insert or an update.
pub async fn insert_or_update<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    key: UniqueKey<E>,
    new: E::New,
) -> Result<E> {
    let mut db = db.into_scoped();
    let statement = upsert_statement::<E>(&inserts::<E>(&mut db).await?.insert_or_update, key)?;
    for _ in 0..UPSERT_ATTEMPTS {
        let key = E::key_of_new(&new);
        let mut values = E::new_values(new.clone());
        let parents = values.take_parents();
        let input = Input::maybe_key(db.any_scope(), key).with_data(values);
        if let Some(row) = row(db.reborrow(), statement, Operation::Insert, input).await? {
            return Ok(row);
        }
        if parent_missing(db.reborrow(), E::meta(), parents).await? {
            return Err(Error::ForeignKey { constraint: None });
        }
        // Nothing came back: a concurrent insert of the key committed after this
        // statement's snapshot (try again, on a fresh one), or the key is held by a row
        // the update may not touch, a soft-deleted one (the same answer every time).
    }
    Err(Error::conflict(E::META.table))
}

/// How many times an upsert runs when a concurrent insert of its key keeps it from seeing
/// the row it would update.
const UPSERT_ATTEMPTS: usize = 3;

/// Inserts `new` unless a row of the scope's tenant has its values for unique key `key`.
pub async fn insert_or_ignore<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    key: UniqueKey<E>,
    new: E::New,
) -> Result<Option<E>> {
    let mut db = db.into_scoped();
    let statement = upsert_statement::<E>(&inserts::<E>(&mut db).await?.insert_or_ignore, key)?;
    let key = E::key_of_new(&new);
    let mut values = E::new_values(new);
    let parents = values.take_parents();
    let input = Input::maybe_key(db.any_scope(), key).with_data(values);
    match row(db.reborrow(), statement, Operation::Insert, input).await? {
        Some(row) => Ok(Some(row)),
        None if parent_missing(db, E::meta(), parents).await? => {
            Err(Error::ForeignKey { constraint: None })
        }
        None => Ok(None),
    }
}

fn upsert_statement<E: TenantEntity>(
    statements: &'static [Statement],
    key: UniqueKey<E>,
) -> Result<&'static Statement> {
    statements
        .get(key.index)
        .ok_or_else(|| Error::Configuration("the entity has no such unique key".into()))
}

/// Whether any of `parents` (a `belongs_to` column's position, the parent id a write
/// named) is not a live row of the scope's tenant.
async fn parent_missing<T: Key>(
    mut db: Scoped<'_, T>,
    meta: &EntityMeta,
    parents: Vec<(usize, Box<dyn BindOnce>)>,
) -> Result<bool> {
    for (index, id) in parents {
        let Some(relation) = meta.relations.iter().find(|r| r.column.index == index) else {
            continue;
        };
        let mut sql = Dynamic::default();
        let placeholder = sql.value_placeholder("id", id);
        let exists = sql::parent_exists(sql.plan(), (relation.parent)(), &placeholder);
        sql.push("SELECT ").push(&exists);
        let (statement, args) = sql.bind(Some(db.any_scope()))?;
        let found: bool = Route::new(db.reborrow(), Summary::select((relation.parent)().table))
            .fetch_scalar(AssertSqlSafe(statement.into_sql()), args)
            .await?;
        if !found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Runs a set-based write over the rows `parts` selects, in one statement; every affected
/// row comes back, in id order. An update that would point a `belongs_to` column at no
/// live parent of the scope's tenant changes nothing and is [`Error::ForeignKey`].
pub(crate) async fn bulk<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    write: BulkWrite,
    parts: SelectParts,
    data: Option<Values>,
) -> Result<Vec<E>> {
    // Soft-deleting rows that are deleted already changes nothing.
    if write == BulkWrite::SoftDelete && parts.deleted == DeletedRows::Only {
        return Ok(Vec::new());
    }
    let mut db = db.into_scoped();
    if matches!(write, BulkWrite::Remove(_)) {
        refuse_cascades::<E>(&mut db).await?;
    }
    let mut data = data;
    let parents = data.as_mut().map(Values::take_parents).unwrap_or_default();
    let (statement, args) =
        sql::render_bulk(E::meta(), write, parts).bind_with(Some(db.any_scope()), data)?;
    let operation = match write {
        BulkWrite::Update | BulkWrite::SoftDelete | BulkWrite::Restore => Operation::Update,
        BulkWrite::Remove(_) => Operation::Delete,
    };
    let mut rows: Vec<E> = Route::new(db.reborrow(), summary::<E>(operation))
        .fetch_all(AssertSqlSafe(statement.into_sql()), args)
        .await?;
    if rows.is_empty() && parent_missing(db, E::meta(), parents).await? {
        return Err(Error::ForeignKey { constraint: None });
    }
    rows.sort_by_key(TenantEntity::id);
    Ok(rows)
}

/// Runs one of `E`'s fixed writes on the row `id`; [`Error::NotFound`] if it matched none.
async fn write_by_id<E: TenantEntity>(
    db: Scoped<'_, E::Tenant>,
    id: E::Id,
    statement: &'static Statement,
    operation: Operation,
) -> Result<()> {
    let args = statement.bind(Input::key(db.any_scope(), id))?;
    match Route::new(db, summary::<E>(operation))
        .execute(statement.sql(), args)
        .await?
    {
        0 => Err(not_found::<E>()),
        _ => Ok(()),
    }
}

/// Refuses a hard delete from an audited entity's table when foreign keys would delete or
/// change other rows with it: those changes would leave no audit record. The catalog is
/// read once per table and database handle.
async fn refuse_cascades<E: TenantEntity>(db: &mut Scoped<'_, E::Tenant>) -> Result<()> {
    if !E::META.audit {
        return Ok(());
    }
    let table = E::META.table;
    let cascades = match db.backend.known_cascades(table) {
        Some(known) => known,
        None => {
            let (statement, args) = sql::rls::cascades(table).bind(None)?;
            let found: Vec<(String,)> = Route::new(db.reborrow(), Summary::select("pg_constraint"))
                .fetch_all(AssertSqlSafe(statement.into_sql()), args)
                .await?;
            let found: Arc<[String]> = found.into_iter().map(|(name,)| name).collect();
            db.backend.remember_cascades(table, Arc::clone(&found));
            found
        }
    };
    if cascades.is_empty() {
        Ok(())
    } else {
        Err(Error::CascadeRefused {
            entity: table,
            constraints: cascades.to_vec(),
        })
    }
}

/// Soft-deletes the live row `id` (hard-deletes it when `E` has no soft-delete column).
pub async fn delete<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c, E::Tenant>,
    id: E::Id,
) -> Result<()> {
    let mut db = db.into_scoped();
    if E::META.soft_delete.is_none() {
        refuse_cascades::<E>(&mut db).await?;
    }
    write_by_id::<E>(db, id, &E::statements().delete, delete_operation::<E>()).await
}

/// Brings the soft-deleted row `id` back; [`Error::NotFound`] if no deleted row has it.
pub async fn restore<'c, E: SoftDelete>(
    db: impl TenantExecutor<'c, E::Tenant>,
    id: E::Id,
) -> Result<E> {
    let db = db.into_scoped();
    let statement = E::statements()
        .restore
        .as_ref()
        .ok_or_else(|| Error::Configuration("the entity has no soft-delete column".into()))?;
    let input = Input::key(db.any_scope(), id);
    row(db, statement, Operation::Update, input)
        .await?
        .ok_or_else(not_found::<E>)
}

/// Removes the row `id` for good, deleted or not.
pub async fn purge<'c, E: SoftDelete>(
    db: impl TenantExecutor<'c, E::Tenant>,
    id: E::Id,
) -> Result<()> {
    let mut db = db.into_scoped();
    refuse_cascades::<E>(&mut db).await?;
    write_by_id::<E>(db, id, &E::statements().purge, Operation::Delete).await
}

/// The children of each parent in `parent_ids` through relation number `relation`, in one
/// query: every requested key is present (with an empty `Vec` when it has no children),
/// children ordered by id (creation order).
pub async fn load_children<'c, E: TenantEntity, K: Key>(
    db: impl TenantExecutor<'c, E::Tenant>,
    relation: usize,
    parent_ids: &[K],
    with_deleted: bool,
    parent_of: fn(&E) -> Option<K>,
) -> Result<HashMap<K, Vec<E>>> {
    let mut grouped: HashMap<K, Vec<E>> = parent_ids
        .iter()
        .map(|id| (id.clone(), Vec::new()))
        .collect();
    if parent_ids.is_empty() {
        return Ok(grouped);
    }
    let statements = E::statements();
    let statement = if with_deleted {
        statements.load_by_with_deleted.get(relation)
    } else {
        statements.load_by.get(relation)
    }
    .ok_or_else(|| Error::Configuration("the entity has no such relation".into()))?;
    let db = db.into_scoped();
    let input = Input::key(db.any_scope(), parent_ids.to_vec());
    for child in rows::<E>(db, statement, Operation::Select, input).await? {
        if let Some(parent) = parent_of(&child) {
            grouped.entry(parent).or_default().push(child);
        }
    }
    Ok(grouped)
}
