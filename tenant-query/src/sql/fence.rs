//! The fence each home keeps per tenant, which refuses statements routed to a home the
//! tenant is leaving or has left, whatever a (possibly stale) directory said.
//!
//! `tenant_query.fences` holds, per tenant and home in the database, the epoch the home
//! last held and its state. `tenant_query.fence(..)`, called in every placed transaction's
//! first round trip, raises `TQ002` (stale) when the home has a newer epoch than the
//! statement was routed with or the tenant has left it, and `TQ001` (read-only) for a
//! writing transaction while the tenant is being moved. A writing transaction also holds a
//! shared advisory lock on (tenant, home) until it ends; the move takes it exclusively to
//! mark the home read-only, so it waits for every write already past the check, and every
//! later one sees the mark.

use super::literal;

/// The fence table and function of one database (idempotent).
pub(crate) const FENCE_DDL: &str = r#"
CREATE SCHEMA IF NOT EXISTS tenant_query;
CREATE TABLE IF NOT EXISTS tenant_query.fences (
    tenant_id text   NOT NULL,
    home      text   NOT NULL,
    epoch     bigint NOT NULL,
    state     text   NOT NULL CHECK (state IN ('active', 'read_only', 'moved')),
    PRIMARY KEY (tenant_id, home)
);
-- The key of the writers' advisory lock on (tenant, home), for the fence and the move alike;
-- the tenant's length first, so no two pairs spell the same text.
CREATE OR REPLACE FUNCTION tenant_query.fence_key(p_tenant text, p_home text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $key$
    SELECT hashtextextended(length(p_tenant) || ':' || p_tenant || '@' || p_home, 0)
$key$;
CREATE OR REPLACE FUNCTION tenant_query.fence(p_tenant text, p_home text, p_epoch bigint, p_writing boolean)
RETURNS void LANGUAGE plpgsql AS $fence$
DECLARE
    f record;
BEGIN
    IF p_writing THEN
        PERFORM pg_advisory_xact_lock_shared(tenant_query.fence_key(p_tenant, p_home));
    END IF;
    -- A statement of its own, so it sees a move that committed while the lock was awaited.
    SELECT epoch, state INTO f FROM tenant_query.fences WHERE tenant_id = p_tenant AND home = p_home;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF f.state = 'moved' OR f.epoch > p_epoch THEN
        RAISE EXCEPTION 'tenant % has left home % (epoch % here, % routed)', p_tenant, p_home, f.epoch, p_epoch
            USING ERRCODE = 'TQ002';
    END IF;
    IF p_writing AND f.state = 'read_only' THEN
        RAISE EXCEPTION 'tenant % is read-only in home % while it moves', p_tenant, p_home
            USING ERRCODE = 'TQ001';
    END IF;
END
$fence$;
"#;

/// The call that checks the fence, for the transaction prologue.
pub(crate) fn check(tenant: &str, home: &str, epoch: i64, writing: bool) -> String {
    format!(
        "tenant_query.fence({}, {}, {epoch}, {writing})",
        literal(tenant),
        literal(home)
    )
}

/// Waits for the writes in flight in `home` (the exclusive side of the writers' lock),
/// for the rest of the transaction.
pub(crate) fn lock(tenant: &str, home: &str) -> String {
    format!(
        "SELECT pg_advisory_xact_lock(tenant_query.fence_key({}, {}))",
        literal(tenant),
        literal(home)
    )
}

/// Sets the fence of `tenant` in `home`.
pub(crate) fn set(tenant: &str, home: &str, epoch: i64, state: &str) -> String {
    format!(
        "INSERT INTO tenant_query.fences (tenant_id, home, epoch, state) VALUES ({}, {}, {epoch}, {}) \
         ON CONFLICT (tenant_id, home) DO UPDATE SET epoch = EXCLUDED.epoch, state = EXCLUDED.state",
        literal(tenant),
        literal(home),
        literal(state)
    )
}
