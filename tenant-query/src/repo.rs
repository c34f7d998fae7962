//! The entity functions the derive exposes (`Project::find`, `Project::insert`, ...),
//! written once, generically, over [`TenantEntity`].

use std::collections::HashMap;

use uuid::Uuid;

use crate::entity::{SoftDelete, TenantEntity};
use crate::error::{Error, Result};
use crate::handle::{Target, TenantExecutor};
use crate::value::Args;

fn not_found<E: TenantEntity>() -> Error {
    Error::NotFound {
        entity: E::META.table,
    }
}

/// The parameters every read starts with: `$1`, the tenant.
fn read_args(target: &Target<'_>) -> Result<Args> {
    let mut args = Args::default();
    args.push("tenant_id", target.scope.tenant_id())?;
    Ok(args)
}

/// The parameters every write of `E` starts with: the tenant, and for audited entities
/// the actor (the numbering the SQL builder's `Params::write` assumes).
fn write_args<E: TenantEntity>(target: &Target<'_>) -> Result<Args> {
    let mut args = read_args(target)?;
    if E::META.audit {
        args.push("actor", target.scope.actor())?;
    }
    Ok(args)
}

/// The live row `id`, if the scope's tenant has it.
pub async fn find<'c, E: TenantEntity>(db: impl TenantExecutor<'c>, id: Uuid) -> Result<Option<E>> {
    let target = db.into_target();
    let mut args = read_args(&target)?;
    args.push("id", id)?;
    target
        .fetch_optional(E::statements().find.as_str(), args)
        .await
}

/// The live row `id`; [`Error::NotFound`] if the scope's tenant has none.
pub async fn get<'c, E: TenantEntity>(db: impl TenantExecutor<'c>, id: Uuid) -> Result<E> {
    find(db, id).await?.ok_or_else(not_found::<E>)
}

/// The live rows among `ids`, by id, in one query (none when `ids` is empty).
pub async fn find_many<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, E>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let target = db.into_target();
    let mut args = read_args(&target)?;
    args.push("id", ids)?;
    let rows: Vec<E> = target
        .fetch_all(E::statements().find_many.as_str(), args)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id(), row)).collect())
}

/// Inserts `new` with a fresh UUIDv7 id, the scope's tenant and the current time.
pub async fn insert<'c, E: TenantEntity>(db: impl TenantExecutor<'c>, new: E::New) -> Result<E> {
    let target = db.into_target();
    let mut args = write_args::<E>(&target)?;
    args.push("id", Uuid::now_v7())?;
    E::bind_new(new, &mut args)?;
    let row = target
        .fetch_optional(E::statements().insert.as_str(), args)
        .await?;
    row.ok_or_else(not_found::<E>)
}

/// Inserts every row of `new` in one statement (one array per column), returning them in
/// input order. Makes no query when `new` is empty.
pub async fn insert_many<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c>,
    new: Vec<E::New>,
) -> Result<Vec<E>> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let target = db.into_target();
    let mut args = write_args::<E>(&target)?;
    let ids: Vec<Uuid> = new.iter().map(|_| Uuid::now_v7()).collect();
    let position: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    args.push("id", ids)?;
    E::bind_new_many(new, &mut args)?;
    let mut rows: Vec<E> = target
        .fetch_all(E::statements().insert_many.as_str(), args)
        .await?;
    rows.sort_by_key(|row| position.get(&row.id()).copied());
    Ok(rows)
}

/// Applies `patch` to the live row `id`; [`Error::NotFound`] if there is none.
pub async fn update<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c>,
    id: Uuid,
    patch: E::Patch,
) -> Result<E> {
    let target = db.into_target();
    let mut args = write_args::<E>(&target)?;
    args.push("id", id)?;
    E::bind_patch(patch, &mut args)?;
    let row = target
        .fetch_optional(E::statements().update.as_str(), args)
        .await?;
    row.ok_or_else(not_found::<E>)
}

/// Runs one of `E`'s fixed writes on the row `id`; [`Error::NotFound`] if it matched none.
async fn write_by_id<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c>,
    id: Uuid,
    sql: &'static str,
) -> Result<()> {
    let target = db.into_target();
    let mut args = write_args::<E>(&target)?;
    args.push("id", id)?;
    match target.execute(sql, args).await? {
        0 => Err(not_found::<E>()),
        _ => Ok(()),
    }
}

/// Soft-deletes the live row `id` (hard-deletes it when `E` has no soft-delete column).
pub async fn delete<'c, E: TenantEntity>(db: impl TenantExecutor<'c>, id: Uuid) -> Result<()> {
    write_by_id::<E>(db, id, E::statements().delete.as_str()).await
}

/// Brings the soft-deleted row `id` back; [`Error::NotFound`] if no deleted row has it.
pub async fn restore<'c, E: SoftDelete>(db: impl TenantExecutor<'c>, id: Uuid) -> Result<E> {
    let target = db.into_target();
    let mut args = write_args::<E>(&target)?;
    args.push("id", id)?;
    let row = target
        .fetch_optional(E::statements().restore.as_str(), args)
        .await?;
    row.ok_or_else(not_found::<E>)
}

/// Removes the row `id` for good, deleted or not.
pub async fn purge<'c, E: SoftDelete>(db: impl TenantExecutor<'c>, id: Uuid) -> Result<()> {
    write_by_id::<E>(db, id, E::statements().purge.as_str()).await
}

/// The children of each parent in `parent_ids` through relation number `relation`, in one
/// query: every requested key is present (with an empty `Vec` when it has no children),
/// children ordered by id (creation order).
pub async fn load_children<'c, E: TenantEntity>(
    db: impl TenantExecutor<'c>,
    relation: usize,
    parent_ids: &[Uuid],
    with_deleted: bool,
    parent_of: fn(&E) -> Uuid,
) -> Result<HashMap<Uuid, Vec<E>>> {
    let mut grouped: HashMap<Uuid, Vec<E>> =
        parent_ids.iter().map(|id| (*id, Vec::new())).collect();
    if parent_ids.is_empty() {
        return Ok(grouped);
    }
    let statements = E::statements();
    let sql = if with_deleted {
        &statements.load_by_with_deleted[relation]
    } else {
        &statements.load_by[relation]
    };
    let target = db.into_target();
    let mut args = read_args(&target)?;
    args.push("parent_id", parent_ids)?;
    for child in target.fetch_all::<E>(sql.as_str(), args).await? {
        grouped.entry(parent_of(&child)).or_default().push(child);
    }
    Ok(grouped)
}
