//! The fleet's description on the command line: cells (`--cell name=url`) and a homes
//! file, one tenant a line: `<tenant uuid> <cell> [<schema>]` (no schema: the cell's
//! database is the home). Blank lines and `#` comments are skipped.

use std::collections::HashMap;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenant_query::fleet::{Cell, SchemaName, TenantHome};
use uuid::Uuid;

/// Connects a pool per `name=url` cell, of `budget` connections (lazily: a cell is only
/// connected to when a home on it is read).
pub fn cells(specs: &[String], budget: u32) -> Result<HashMap<String, Cell>, String> {
    let mut cells = HashMap::new();
    for spec in specs {
        let (name, url) = spec
            .split_once('=')
            .ok_or_else(|| format!("--cell `{spec}`: expected name=postgres://..."))?;
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| format!("--cell {name}: not a PostgreSQL URL: {e}"))?;
        let pool = PgPoolOptions::new()
            .max_connections(budget.max(1))
            .connect_lazy_with(options.application_name("tenant-fleet"));
        if cells
            .insert(name.to_owned(), Cell::new(name, pool))
            .is_some()
        {
            return Err(format!("--cell {name} is given twice"));
        }
    }
    Ok(cells)
}

/// Parses the homes file against `cells`.
pub fn parse(text: &str, cells: &HashMap<String, Cell>) -> Result<Vec<TenantHome>, String> {
    let mut homes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: String| format!("homes file, line {}: {what}", n + 1);
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|f| !f.is_empty())
            .collect();
        let (tenant, cell, schema) = match fields.as_slice() {
            [tenant, cell] => (tenant, cell, None),
            [tenant, cell, schema] => (tenant, cell, Some(schema)),
            _ => return Err(at("expected `<tenant uuid> <cell> [<schema>]`".into())),
        };
        let tenant: Uuid = tenant
            .parse()
            .map_err(|e| at(format!("`{tenant}` is not a UUID: {e}")))?;
        let cell = cells
            .get(*cell)
            .ok_or_else(|| at(format!("no --cell named `{cell}`")))?;
        homes.push(match schema {
            Some(schema) => {
                let schema = SchemaName::new(*schema).map_err(|e| at(e.to_string()))?;
                TenantHome::schema(tenant, cell, schema)
            }
            None => TenantHome::database(tenant, cell),
        });
    }
    Ok(homes)
}
