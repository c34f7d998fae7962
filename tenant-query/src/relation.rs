//! Relations declared with `belongs_to`, and nested loading: one query per level,
//! however many parents, assembled into plain structs.

use std::collections::HashMap;
use std::future::Future;

use uuid::Uuid;

use crate::entity::{SoftDelete, TenantEntity};
use crate::error::Result;
use crate::handle::ScopedDb;
use crate::repo;

/// The `belongs_to` relation from child `C` to its parent; generated as `Task::BY_PROJECT`
/// for `#[tenant(belongs_to = Project)] project_id`.
///
/// ```no_run
/// # use tenant_query::prelude::*;
/// # use tenant_query::Nested;
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "projects")]
/// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "tasks")]
/// # pub struct Task { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid,
/// #     #[tenant(belongs_to = Project)] pub project_id: uuid::Uuid }
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "comments")]
/// # pub struct Comment { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid,
/// #     #[tenant(belongs_to = Task)] pub task_id: uuid::Uuid, pub body: String }
/// # async fn run(s: &ScopedDb) -> tenant_query::Result<()> {
/// // Three entities, three queries.
/// let projects = Project::query().all(s).await?;
/// let tree: Vec<Nested<Project, Nested<Task, Comment>>> =
///     Task::BY_PROJECT.then(Comment::BY_TASK).attach(s, projects).await?;
/// for project in &tree {
///     for task in &project.children {
///         println!("{:?}: {} comments", task.row.id, task.children.len());
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Relation<C> {
    index: usize,
    parent_of: fn(&C) -> Uuid,
    with_deleted: bool,
}

impl<C> Clone for Relation<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Relation<C> {}

impl<C> std::fmt::Debug for Relation<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relation")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<C: TenantEntity> Relation<C> {
    /// The relation number `index` of `C`, whose parent id `parent_of` reads; generated.
    #[doc(hidden)]
    pub const fn new(index: usize, parent_of: fn(&C) -> Uuid) -> Self {
        Relation {
            index,
            parent_of,
            with_deleted: false,
        }
    }

    /// Then, for each child, its own children through `next`. Deeper trees nest the
    /// chain: `A::BY_ROOT.then(B::BY_A.then(C::BY_B))`.
    pub fn then<N: Children>(self, next: N) -> Then<Self, N> {
        Then { first: self, next }
    }
}

impl<C: SoftDelete> Relation<C> {
    /// The same relation, soft-deleted children included.
    pub fn with_deleted(self) -> Self {
        Relation {
            with_deleted: true,
            ..self
        }
    }
}

/// A row with its loaded children.
#[derive(Debug, Clone, PartialEq)]
pub struct Nested<P, C> {
    /// The parent row.
    pub row: P,
    /// Its children, in id order.
    pub children: Vec<C>,
}

/// Something with a row id: an entity, or a [`Nested`] (whose id is its row's).
pub trait Keyed {
    /// The row id.
    fn key(&self) -> Uuid;
}

impl<E: TenantEntity> Keyed for E {
    fn key(&self) -> Uuid {
        self.id()
    }
}

impl<P: Keyed, C> Keyed for Nested<P, C> {
    fn key(&self) -> Uuid {
        self.row.key()
    }
}

/// A level (or chain of levels) of children that loads for many parents at once.
pub trait Children: Sized + Send + Sync {
    /// One loaded child: an entity, or a [`Nested`] entity with its own children.
    type Output: Send;

    /// The children of each of `parent_ids`, one query per level; every parent is a key.
    fn load(
        &self,
        db: &ScopedDb,
        parent_ids: &[Uuid],
    ) -> impl Future<Output = Result<HashMap<Uuid, Vec<Self::Output>>>> + Send;

    /// Pairs each of `parents` with its children, keeping the parents' order.
    fn attach<P: Keyed + Send>(
        &self,
        db: &ScopedDb,
        parents: Vec<P>,
    ) -> impl Future<Output = Result<Vec<Nested<P, Self::Output>>>> + Send {
        async move {
            let ids: Vec<Uuid> = parents.iter().map(Keyed::key).collect();
            let mut children = self.load(db, &ids).await?;
            Ok(parents
                .into_iter()
                .map(|row| {
                    let children = children.remove(&row.key()).unwrap_or_default();
                    Nested { row, children }
                })
                .collect())
        }
    }
}

impl<C: TenantEntity> Children for Relation<C> {
    type Output = C;

    async fn load(&self, db: &ScopedDb, parent_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<C>>> {
        repo::load_children(
            db,
            self.index,
            parent_ids,
            self.with_deleted,
            self.parent_of,
        )
        .await
    }
}

/// A relation followed by the relations of its children; see [`Relation::then`].
#[derive(Debug, Clone, Copy)]
pub struct Then<F, N> {
    first: F,
    next: N,
}

impl<F, N> Children for Then<F, N>
where
    F: Children,
    F::Output: Keyed,
    N: Children,
{
    type Output = Nested<F::Output, N::Output>;

    async fn load(
        &self,
        db: &ScopedDb,
        parent_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<Self::Output>>> {
        let children = self.first.load(db, parent_ids).await?;
        let child_ids: Vec<Uuid> = children.values().flatten().map(Keyed::key).collect();
        let mut grandchildren = self.next.load(db, &child_ids).await?;
        Ok(children
            .into_iter()
            .map(|(parent, rows)| {
                let rows = rows
                    .into_iter()
                    .map(|row| {
                        let children = grandchildren.remove(&row.key()).unwrap_or_default();
                        Nested { row, children }
                    })
                    .collect();
                (parent, rows)
            })
            .collect())
    }
}
