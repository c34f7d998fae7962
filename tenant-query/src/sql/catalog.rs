//! Reads of `pg_catalog` for the schema check, each for one table given by name.

use super::plan::Dynamic;
use super::table;

fn for_table(text: &str, table_name: &str, tail: &str) -> Dynamic {
    let mut sql = Dynamic::default();
    sql.push(text)
        .value("table", Box::new(table(table_name)))
        .push(tail);
    sql
}

/// Per column: name, type oid, type name, formatted type, `NOT NULL`, generated, whether
/// it has a default (a generated column's expression is not one), and whether it is an
/// identity column (which has no default in the catalog's sense).
pub(crate) fn columns(table_name: &str) -> Dynamic {
    for_table(
        "SELECT a.attname::text, a.atttypid, t.typname::text, format_type(a.atttypid, a.atttypmod), \
         a.attnotnull, a.attgenerated <> '', a.atthasdef AND a.attgenerated = '', a.attidentity <> '' \
         FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid \
         WHERE a.attrelid = to_regclass(",
        table_name,
        ") AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
}

/// Per index: name, unique, primary, its predicate (for a partial index), and its columns
/// in order.
pub(crate) fn indexes(table_name: &str) -> Dynamic {
    for_table(
        "SELECT c.relname::text, i.indisunique, i.indisprimary, pg_get_expr(i.indpred, i.indrelid), \
         ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord) \
         FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(",
        table_name,
        ") ORDER BY 1",
    )
}

/// Per foreign key of the table: name, its columns, the referenced columns, and whether
/// deleting the parent deletes or changes the row (`CASCADE`, `SET NULL`, `SET DEFAULT`).
pub(crate) fn foreign_keys(table_name: &str) -> Dynamic {
    for_table(
        "SELECT c.conname::text, \
         ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(n, ord) \
             JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.ord), \
         ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(n, ord) \
             JOIN pg_attribute AS a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.ord), \
         c.confdeltype IN ('c', 'n', 'd') \
         FROM pg_constraint AS c WHERE c.contype = 'f' AND c.conrelid = to_regclass(",
        table_name,
        ") ORDER BY 1",
    )
}

/// Per column with a default: its name and its default expression.
pub(crate) fn defaults(table_name: &str) -> Dynamic {
    for_table(
        "SELECT a.attname::text, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute AS a \
         JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = to_regclass(",
        table_name,
        ") AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''",
    )
}
