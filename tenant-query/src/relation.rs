//! Relations declared with `belongs_to`, and nested loading: one query per level,
//! however many parents, assembled into plain structs.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;

use crate::entity::{SoftDelete, TenantEntity};
use crate::error::Result;
use crate::filter::{Expr, Filter, Join, Link};
use crate::handle::TenantExecutor;
use crate::key::Key;
use crate::repo;

/// The `belongs_to` relation from child `C` to parent `P`; generated as `Task::BY_PROJECT`
/// (a `Relation<Project, Task>`) for `#[tenant(belongs_to = Project)] project_id`.
///
/// Relations are typed by both ends, so attaching children to rows of another entity, or
/// chaining relations that do not meet, does not compile.
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
pub struct Relation<P: TenantEntity, C> {
    index: usize,
    /// The child's foreign-key column.
    fk: &'static str,
    parent_of: fn(&C) -> Option<P::Id>,
    with_deleted: bool,
    parent: PhantomData<fn() -> P>,
}

impl<P: TenantEntity, C> Clone for Relation<P, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: TenantEntity, C> Copy for Relation<P, C> {}

impl<P: TenantEntity, C> std::fmt::Debug for Relation<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relation")
            .field("index", &self.index)
            .field("with_deleted", &self.with_deleted)
            .finish_non_exhaustive()
    }
}

impl<P: TenantEntity, C: TenantEntity<Tenant = P::Tenant>> Relation<P, C> {
    /// The relation number `index` of `C`, whose parent id `parent_of` reads; generated.
    pub(crate) const fn new(
        index: usize,
        fk: &'static str,
        parent_of: fn(&C) -> Option<P::Id>,
    ) -> Self {
        Relation {
            index,
            fk,
            parent_of,
            with_deleted: false,
            parent: PhantomData,
        }
    }

    /// Then, for each child, its own children through `next`, whose parent must be `C`.
    /// Deeper trees nest the chain: `A::BY_ROOT.then(B::BY_A.then(C::BY_B))`.
    pub fn then<N: Children<Parent = C>>(self, next: N) -> Then<Self, N> {
        Then { first: self, next }
    }

    /// A filter on children: their parent is a live row of the scope's tenant that
    /// matches `filter`. Rendered as an `EXISTS` in which both tables carry the tenant.
    ///
    /// ```
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "projects")]
    /// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid, pub status: String }
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "tasks")]
    /// # pub struct Task { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid,
    /// #     #[tenant(belongs_to = Project)] pub project_id: uuid::Uuid, pub done: bool }
    /// // Open tasks of active projects.
    /// let query = Task::query()
    ///     .filter(Task::DONE.eq(false))
    ///     .filter(Task::BY_PROJECT.has(Project::STATUS.eq("active")));
    /// // Projects with at least one open task.
    /// let projects = Project::query().filter(Task::BY_PROJECT.any(Task::DONE.eq(false)));
    /// # let _ = (query, projects);
    /// ```
    pub fn has(self, filter: Filter<P>) -> Filter<C> {
        Filter::new(Expr::Related {
            link: Link {
                target: P::meta(),
                join: Join::Parent { fk: self.fk },
                // The parent must be live; `with_deleted` is about the children.
                with_deleted: false,
            },
            inner: Box::new(filter.expr),
        })
    }

    /// A filter on parents: at least one live child of the scope's tenant matches
    /// `filter` (see [`has`](Self::has)); soft-deleted children count too after
    /// [`with_deleted`](Self::with_deleted).
    pub fn any(self, filter: Filter<C>) -> Filter<P> {
        Filter::new(Expr::Related {
            link: Link {
                target: C::meta(),
                join: Join::Children { fk: self.fk },
                with_deleted: self.with_deleted,
            },
            inner: Box::new(filter.expr),
        })
    }

    /// A filter on parents: no live child of the scope's tenant matches `filter`.
    pub fn none(self, filter: Filter<C>) -> Filter<P> {
        self.any(filter).not()
    }
}

impl<P: TenantEntity, C: SoftDelete<Tenant = P::Tenant>> Relation<P, C> {
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

/// Something with a row id of a known entity: an entity, or a [`Nested`] (whose id is its
/// row's).
pub trait Keyed {
    /// The entity whose id this is.
    type Entity: TenantEntity;

    /// The row id.
    fn key(&self) -> KeyOf<Self::Entity>;
}

/// The id type of entity `E`.
type KeyOf<E> = <E as TenantEntity>::Id;
/// The tenant type of entity `E`.
type TenantOf<E> = <E as TenantEntity>::Tenant;

impl<E: TenantEntity> Keyed for E {
    type Entity = E;

    fn key(&self) -> KeyOf<E> {
        self.id()
    }
}

impl<P: Keyed, C> Keyed for Nested<P, C> {
    type Entity = P::Entity;

    fn key(&self) -> KeyOf<P::Entity> {
        self.row.key()
    }
}

/// A level (or chain of levels) of children that loads for many parents at once.
pub trait Children: Sized + Send + Sync {
    /// The entity whose rows the children belong to.
    type Parent: TenantEntity;
    /// One loaded child: an entity, or a [`Nested`] entity with its own children.
    type Output: Send + Clone;

    /// The children of each of `parent_ids`, one query per level; every parent is a key.
    #[allow(clippy::type_complexity)]
    fn load<'c>(
        &self,
        db: impl TenantExecutor<'c, TenantOf<Self::Parent>>,
        parent_ids: &[KeyOf<Self::Parent>],
    ) -> impl Future<Output = Result<HashMap<KeyOf<Self::Parent>, Vec<Self::Output>>>> + Send;

    /// Pairs each of `parents` with its children, keeping the parents' order. A parent
    /// listed more than once gets its children each time.
    fn attach<'c, R: Keyed<Entity = Self::Parent> + Send>(
        &self,
        db: impl TenantExecutor<'c, TenantOf<Self::Parent>>,
        parents: Vec<R>,
    ) -> impl Future<Output = Result<Vec<Nested<R, Self::Output>>>> + Send {
        async move {
            let ids: Vec<KeyOf<Self::Parent>> = parents.iter().map(Keyed::key).collect();
            let children = self.load(db, &ids).await?;
            Ok(pair(parents, children))
        }
    }
}

/// Gives each row its children, once per time the row's id occurs.
fn pair<R: Keyed, C: Clone>(
    rows: Vec<R>,
    children: HashMap<KeyOf<R::Entity>, Vec<C>>,
) -> Vec<Nested<R, C>> {
    let mut share = Share::new(children, rows.iter().map(Keyed::key));
    rows.into_iter()
        .map(|row| {
            let children = share.take(row.key());
            Nested { row, children }
        })
        .collect()
}

/// Hands out each key's children: moved out the last time the key is asked for, cloned
/// before that, so a key that occurs twice gets its children twice.
struct Share<K, C> {
    children: HashMap<K, Vec<C>>,
    remaining: HashMap<K, usize>,
}

impl<K: Key, C: Clone> Share<K, C> {
    fn new(children: HashMap<K, Vec<C>>, keys: impl Iterator<Item = K>) -> Self {
        let mut remaining: HashMap<K, usize> = HashMap::new();
        for key in keys {
            *remaining.entry(key).or_default() += 1;
        }
        Share {
            children,
            remaining,
        }
    }

    fn take(&mut self, key: K) -> Vec<C> {
        let left = self.remaining.entry(key.clone()).or_default();
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.children.remove(&key).unwrap_or_default()
        } else {
            self.children.get(&key).cloned().unwrap_or_default()
        }
    }
}

impl<P: TenantEntity, C: TenantEntity<Tenant = P::Tenant> + Clone> Children for Relation<P, C> {
    type Parent = P;
    type Output = C;

    async fn load<'c>(
        &self,
        db: impl TenantExecutor<'c, P::Tenant>,
        parent_ids: &[P::Id],
    ) -> Result<HashMap<P::Id, Vec<C>>> {
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
    N: Children<Parent = <F::Output as Keyed>::Entity>,
    <F::Output as Keyed>::Entity: TenantEntity<Tenant = TenantOf<F::Parent>>,
{
    type Parent = F::Parent;
    type Output = Nested<F::Output, N::Output>;

    async fn load<'c>(
        &self,
        db: impl TenantExecutor<'c, TenantOf<F::Parent>>,
        parent_ids: &[KeyOf<F::Parent>],
    ) -> Result<HashMap<KeyOf<F::Parent>, Vec<Self::Output>>> {
        let mut db = db.into_scoped();
        let children = self.first.load(db.reborrow(), parent_ids).await?;
        let child_ids: Vec<KeyOf<N::Parent>> =
            children.values().flatten().map(Keyed::key).collect();
        let grandchildren = self.next.load(db.reborrow(), &child_ids).await?;
        let mut share = Share::new(grandchildren, child_ids.into_iter());
        Ok(children
            .into_iter()
            .map(|(parent, rows)| {
                let nested = rows
                    .into_iter()
                    .map(|row| {
                        let children = share.take(row.key());
                        Nested { row, children }
                    })
                    .collect();
                (parent, nested)
            })
            .collect())
    }
}

/// Builds relation constants for the derive.
#[doc(hidden)]
pub const fn relation<P: TenantEntity, C: TenantEntity<Tenant = P::Tenant>>(
    index: usize,
    fk: &'static str,
    parent_of: fn(&C) -> Option<P::Id>,
) -> Relation<P, C> {
    Relation::new(index, fk, parent_of)
}
