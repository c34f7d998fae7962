//! Placement of tenants on a real PostgreSQL (three servers) and a real PgBouncer: the
//! same suite in each isolation model, cells' bounded pools, schema per tenant behind a
//! transaction pooler, and moving tenants under load.

mod common;

#[path = "placement/bouncer.rs"]
mod bouncer;
#[path = "placement/cells.rs"]
mod cells;
#[path = "placement/harness.rs"]
mod harness;
#[path = "placement/models.rs"]
mod models;
#[path = "placement/moves.rs"]
mod moves;
