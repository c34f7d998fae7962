//! Where a tenant's tables live, as the migrator sees it: a cell (a server or database,
//! reached through a pool) and, for schema-per-tenant, a schema in it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

pub use crate::placement::SchemaName;
use crate::placement::TenantPlacement;

use super::FleetError;

/// A server or database holding tenant homes, with the pool that reaches it and the number
/// of connections the migrator may use on it at once (its budget).
///
/// ```no_run
/// use tenant_query::fleet::Cell;
/// # async fn run(url: &str) -> Result<(), sqlx::Error> {
/// let pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(url).await?;
/// let cell = Cell::new("eu-1", pool).with_budget(4);
/// assert_eq!(cell.budget(), 4);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Cell {
    name: Arc<str>,
    pool: PgPool,
    budget: usize,
}

impl Cell {
    /// A cell named `name` (its key in the run table and in reports: give each cell one
    /// name), reached through `pool`; the budget is the pool's size.
    pub fn new(name: impl Into<Arc<str>>, pool: PgPool) -> Self {
        let budget = pool.options().get_max_connections() as usize;
        Cell {
            name: name.into(),
            pool,
            budget: budget.max(1),
        }
    }

    /// At most `budget` connections at once on this cell (at least 1, at most the pool's
    /// size).
    pub fn with_budget(mut self, budget: usize) -> Self {
        let size = self.pool.options().get_max_connections() as usize;
        self.budget = budget.clamp(1, size.max(1));
        self
    }

    /// The cell's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The connections the migrator may use on this cell at once.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// The cell's pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// One tenant and where its tables live: a schema of a cell (schema per tenant), or the
/// cell's database itself (a database per tenant, or tables shared by tenants). Tenants
/// with the same home are migrated once, together.
///
/// ```no_run
/// use tenant_query::fleet::{Cell, SchemaName, TenantHome};
/// # fn run(cell: Cell, tenant: uuid::Uuid) -> Result<(), tenant_query::Error> {
/// let home = TenantHome::schema(tenant, &cell, SchemaName::new("tenant_42")?);
/// assert_eq!(home.key().to_string(), format!("{}/tenant_42", cell.name()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TenantHome {
    tenant: Uuid,
    cell: Cell,
    schema: Option<SchemaName>,
}

impl TenantHome {
    /// `tenant`'s tables live in `schema` on `cell`. The migrator creates the schema if
    /// it does not exist yet.
    pub fn schema(tenant: Uuid, cell: &Cell, schema: SchemaName) -> Self {
        TenantHome {
            tenant,
            cell: cell.clone(),
            schema: Some(schema),
        }
    }

    /// `tenant`'s tables live in `cell`'s database, on its connections' own `search_path`.
    pub fn database(tenant: Uuid, cell: &Cell) -> Self {
        TenantHome {
            tenant,
            cell: cell.clone(),
            schema: None,
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> Uuid {
        self.tenant
    }

    /// The cell.
    pub fn cell(&self) -> &Cell {
        &self.cell
    }

    /// The schema, for a schema-per-tenant home.
    pub fn schema_name(&self) -> Option<&SchemaName> {
        self.schema.as_ref()
    }

    /// The home of a tenant placed by the [placement directory](crate::placement): a
    /// schema in the main database (`main`), or the database of the named cell among
    /// `cells`. `None` for a tenant in the shared tables, which are migrated once, like
    /// any single database. [`FleetError::UnknownCell`] for a cell not in `cells`.
    ///
    /// ```no_run
    /// # use tenant_query::fleet::{Cell, TenantHome};
    /// # use tenant_query::placement::TablePlacements;
    /// # async fn run(directory: TablePlacements, main: Cell, cells: Vec<Cell>) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut homes = Vec::new();
    /// for (tenant, placement) in directory.placed().await? {
    ///     let tenant: uuid::Uuid = tenant.parse()?;
    ///     homes.extend(TenantHome::placed(tenant, &placement.home, &main, &cells)?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn placed(
        tenant: Uuid,
        placement: &TenantPlacement,
        main: &Cell,
        cells: &[Cell],
    ) -> Result<Option<TenantHome>, FleetError> {
        Ok(match placement {
            TenantPlacement::Shared => None,
            TenantPlacement::Schema(schema) => {
                Some(TenantHome::schema(tenant, main, schema.clone()))
            }
            TenantPlacement::Database(name) => {
                let cell = cells
                    .iter()
                    .find(|cell| cell.name() == name)
                    .ok_or_else(|| FleetError::UnknownCell(name.clone()))?;
                Some(TenantHome::database(tenant, cell))
            }
        })
    }

    /// The home's identity in the run table and in reports.
    pub fn key(&self) -> HomeKey {
        HomeKey {
            cell: Arc::clone(&self.cell.name),
            schema: self.schema.clone(),
        }
    }
}

/// A home's identity: its cell's name and its schema; shown as `cell/schema`, or `cell`
/// for a database home.
///
/// ```no_run
/// # use tenant_query::fleet::TenantHome;
/// # fn run(home: &TenantHome) {
/// let key = home.key();
/// println!("{key}: cell {}, schema {:?}", key.cell(), key.schema().map(|s| s.as_str()));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HomeKey {
    cell: Arc<str>,
    schema: Option<SchemaName>,
}

impl HomeKey {
    pub(crate) fn new(cell: &str, schema: Option<SchemaName>) -> Self {
        HomeKey {
            cell: cell.into(),
            schema,
        }
    }

    /// The cell's name.
    pub fn cell(&self) -> &str {
        &self.cell
    }

    /// The schema, for a schema home.
    pub fn schema(&self) -> Option<&SchemaName> {
        self.schema.as_ref()
    }

    /// The schema as the run table stores it (`''` for a database home).
    pub(crate) fn schema_column(&self) -> &str {
        self.schema.as_ref().map_or("", SchemaName::as_str)
    }

    /// The key of this home's advisory lock (one lock space per database, so the schema
    /// is enough to tell homes apart). It is hashed to 64 bits: two schemas whose hashes
    /// collide share a lock, which only makes a concurrent runner skip one as `locked`.
    pub(crate) fn lock_name(&self) -> String {
        format!("tenant_query.fleet/{}", self.schema_column())
    }
}

impl fmt::Display for HomeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{}/{schema}", self.cell),
            None => f.write_str(&self.cell),
        }
    }
}

/// A home with the tenants living in it: the unit the migrator works on.
#[derive(Debug, Clone)]
pub(crate) struct Home {
    pub(crate) key: HomeKey,
    pub(crate) cell: Cell,
    pub(crate) tenants: Vec<Uuid>,
}

impl Home {
    /// The tenants, for events and the run table.
    pub(crate) fn tenant_list(&self) -> String {
        let ids: Vec<String> = self.tenants.iter().map(Uuid::to_string).collect();
        ids.join(",")
    }
}

/// The distinct homes of `homes`, in key order, each with its tenants.
pub(crate) fn group(homes: &[TenantHome]) -> Vec<Home> {
    let mut grouped: BTreeMap<HomeKey, Home> = BTreeMap::new();
    for home in homes {
        grouped
            .entry(home.key())
            .or_insert_with(|| Home {
                key: home.key(),
                cell: home.cell.clone(),
                tenants: Vec::new(),
            })
            .tenants
            .push(home.tenant);
    }
    grouped.into_values().collect()
}
