#!/usr/bin/env bash
# What the compile-time schema check costs: a crate of 20 entities, built with a
# migrations/ directory of 50 files (the derive replays them for every entity) and without
# one (the check is skipped), after touching its source. Prints the median of 5 builds.
#
#   bash benches/schema-check-cost/run.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${TMPDIR:-/tmp}/tenant-query-schema-check-cost"
export CARGO_TARGET_DIR="$work/target"
rm -rf "$work/with" "$work/without"

make_crate() {
    local dir="$1" migrations="$2"
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<TOML
[package]
name = "schema-check-cost"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
tenant-query = { path = "$repo/tenant-query" }
uuid = "1"
chrono = "0.4"
[workspace]
TOML
    {
        echo "use tenant_query::prelude::*;"
        echo "use chrono::{DateTime, Utc};"
        echo "use uuid::Uuid;"
        for i in $(seq 1 20); do
            cat <<RUST
#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "t$i", audit)]
pub struct E$i {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub name: String,
    pub amount: i64,
    pub note: Option<String>,
    pub flag: bool,
    #[tenant(created_at)] pub created_at: DateTime<Utc>,
    #[tenant(soft_delete)] pub deleted_at: Option<DateTime<Utc>>,
}
RUST
        done
    } >"$dir/src/lib.rs"
    if [ "$migrations" = yes ]; then
        mkdir -p "$dir/migrations"
        for i in $(seq 1 20); do
            printf 'CREATE TABLE t%s (id uuid NOT NULL, org_id uuid NOT NULL, name text NOT NULL, amount integer NOT NULL,\n  created_at timestamptz NOT NULL, deleted_at timestamptz, PRIMARY KEY (org_id, id));\n' "$i" \
                >"$dir/migrations/$(printf '%04d' "$i")_create_t$i.sql"
        done
        for i in $(seq 21 50); do
            t=$(( (i % 20) + 1 ))
            case $(( i % 3 )) in
                0) echo "ALTER TABLE t$t ADD COLUMN note_$i text;" ;;
                1) echo "ALTER TABLE t$t DROP COLUMN IF EXISTS note_$(( i - 1 ));" ;;
                *) echo "CREATE INDEX t${t}_i$i ON t$t (org_id, name);" ;;
            esac >"$dir/migrations/$(printf '%04d' "$i")_change_$i.sql"
        done
        for i in $(seq 1 20); do
            echo "ALTER TABLE t$i ALTER COLUMN amount TYPE bigint; ALTER TABLE t$i ADD COLUMN note text; ALTER TABLE t$i ADD COLUMN flag boolean NOT NULL DEFAULT false;"
        done >"$dir/migrations/0051_fit.sql"
    fi
}

median_build() {
    local dir="$1" times=()
    (cd "$dir" && cargo build -q)  # warm: dependencies and a first build
    for _ in 1 2 3 4 5; do
        touch "$dir/src/lib.rs"
        local start end
        start=$(date +%s%N)
        (cd "$dir" && cargo build -q)
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

make_crate "$work/with" yes
make_crate "$work/without" no
with=$(median_build "$work/with")
without=$(median_build "$work/without")
echo "20 entities, rebuild after touching the source (median of 5):"
echo "  with 51 migration files checked: ${with} ms"
echo "  without migrations (no check):   ${without} ms"
awk -v a="$with" -v b="$without" 'BEGIN { printf "  ratio: %.3f\n", a / b }'
