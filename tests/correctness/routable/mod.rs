//! Router-executable SQL on a tenant-distributed PostgreSQL (Citus), checked structurally:
//! every statement the library can generate is parsed and each table reference must carry
//! the tenant (see [`check`]). The fixed statements of every test entity are checked with
//! their known tenant placeholder; the dynamic ones are captured from a corpus of calls as
//! they are sent ([`capture`], [`corpus`]).

mod capture;
mod check;
mod corpus;

use capture::Capture;
use check::{Finding, Reason, check};

/// Prints the findings, one per line, for a failing assertion.
fn report(findings: &[(String, Finding)]) -> String {
    findings
        .iter()
        .map(|(label, finding)| format!("[{label}] {finding}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_statement_the_library_sends_is_router_executable() {
    let tables = corpus::tables();

    // The fixed statements of every entity, each against its own tenant placeholder.
    let (count, findings) = corpus::fixed(&tables);
    assert!(count >= 14 * 8, "{count} fixed statements");
    assert!(findings.is_empty(), "{}", report(&findings));

    // Everything sent over a corpus of calls, exactly as sent.
    let f = crate::common::Fixture::new().await;
    f.test_db
        .execute_script(crate::common::LABELS)
        .await
        .unwrap();
    let capture = Capture::start();
    corpus::run(&f).await;
    let _shapes = corpus::run_shapes().await;
    let sent = capture.finish();

    let mut findings = Vec::new();
    let mut distinct: Vec<&str> = Vec::new();
    for s in &sent {
        assert!(
            s.scoped,
            "an unscoped statement in a scoped corpus: {}",
            s.sql
        );
        if distinct.contains(&s.sql.as_str()) {
            continue;
        }
        distinct.push(&s.sql);
        for finding in check(&s.sql, &tables, None) {
            findings.push((s.summary.clone(), finding));
        }
    }
    assert!(findings.is_empty(), "{}", report(&findings));
    // To review what the corpus reaches: `TQ_PRINT_STATEMENTS=1 ... -- --nocapture`.
    if std::env::var_os("TQ_PRINT_STATEMENTS").is_some() {
        for sql in &distinct {
            println!("{sql}");
        }
    }
    // The corpus reached what it means to: not a vacuous pass.
    assert!(
        distinct.len() >= 100,
        "{} distinct statements",
        distinct.len()
    );
    for needle in [
        "EXISTS (SELECT 1 FROM \"projects\" AS r1",
        "EXISTS (SELECT 1 FROM \"comments\" AS r2",
        "FOR UPDATE SKIP LOCKED",
        "FOR UPDATE NOWAIT",
        "DISTINCT ON",
        "GROUP BY",
        "ON CONFLICT",
        "DELETE FROM \"tasks\" AS t USING",
        "FROM tenant_audit_log WHERE tenant_id",
        "INSERT INTO tenant_audit_log",
        "UNNEST(",
        "SELECT count(*) FROM (SELECT 1",
        "FROM \"billing\".\"invoices\"",
    ] {
        assert!(
            distinct.iter().any(|sql| sql.contains(needle)),
            "no statement contains {needle}"
        );
    }
}

/// The findings of `sql`, as `(table, reason)`, for the checks below.
fn reasons(sql: &str, tenant: Option<usize>) -> Vec<(String, Reason)> {
    check(sql, &corpus::tables(), tenant)
        .into_iter()
        .map(|f| (f.table, f.reason))
        .collect()
}

#[test]
fn a_statement_that_leaves_a_table_unfiltered_is_reported() {
    use Reason::*;
    let unfiltered = |table: &str| vec![(table.to_owned(), Unfiltered)];
    // No tenant at all.
    assert_eq!(
        reasons("SELECT * FROM projects WHERE id = $2", None),
        unfiltered("projects")
    );
    // A join that forgets the tenant equality.
    assert_eq!(
        reasons(
            "SELECT t.id FROM tasks AS t JOIN projects AS p ON p.id = t.project_id WHERE t.org_id = $1",
            None
        ),
        unfiltered("projects")
    );
    // An EXISTS on the parent without the tenant predicate.
    assert_eq!(
        reasons(
            "SELECT t.id FROM tasks AS t WHERE t.org_id = $1 AND \
             EXISTS (SELECT 1 FROM projects AS r1 WHERE r1.id = t.project_id AND r1.deleted_at IS NULL)",
            None
        ),
        unfiltered("projects")
    );
    // An OR does not pin: either side may hold.
    assert_eq!(
        reasons("SELECT id FROM projects WHERE org_id = $1 OR id = $2", None),
        unfiltered("projects")
    );
    // A data-modifying CTE, the audit log's write without its tenant.
    assert_eq!(
        reasons(
            "WITH changed AS (UPDATE projects AS t SET name = $2 WHERE t.org_id = $1 RETURNING t.id) \
             INSERT INTO tenant_audit_log (entity, entity_id, action, changes) \
             SELECT 'projects', c.id, 'update', '{}' FROM changed AS c",
            None
        ),
        vec![("tenant_audit_log".to_owned(), InsertWithoutTenant)]
    );
    // Two tables pinned to two parameters: two shards.
    assert_eq!(
        reasons(
            "SELECT 1 FROM projects AS p JOIN tasks AS t ON t.org_id = $2 WHERE p.org_id = $1",
            None
        ),
        vec![(
            "projects, tasks".to_owned(),
            SeveralParameters(vec!["$1".into(), "$2".into()])
        )]
    );
    // The right shape, compared with a parameter that is not the tenant's.
    assert_eq!(
        reasons(
            "SELECT id FROM projects WHERE org_id = $2 AND id = $1",
            Some(1)
        ),
        vec![(
            "projects".to_owned(),
            NotTheTenantParameter {
                expected: "$1".into(),
                found: "$2".into()
            }
        )]
    );
    // Moving a row to another tenant: another shard.
    assert_eq!(
        reasons(
            "UPDATE projects AS t SET org_id = $3 WHERE t.org_id = $1 AND t.id = $2",
            None
        ),
        vec![("projects".to_owned(), TenantAssigned)]
    );
    // A table the check does not know, and SQL it cannot parse.
    assert_eq!(
        reasons("SELECT * FROM invoices_2024 WHERE org_id = $1", None),
        vec![("invoices_2024".to_owned(), UnknownTable)]
    );
    assert!(matches!(
        reasons("SELEC 1", None).as_slice(),
        [(_, Unparsable(_))]
    ));
    // And the same shapes, written correctly, pass.
    for sql in [
        "SELECT t.id FROM tasks AS t JOIN projects AS p ON p.org_id = t.org_id AND p.id = t.project_id \
         WHERE t.org_id = $1",
        "SELECT t.id FROM tasks AS t WHERE t.org_id = $1 AND EXISTS (SELECT 1 FROM projects AS r1 \
         WHERE r1.org_id = t.org_id AND r1.id = t.project_id)",
        "INSERT INTO tags (id, tenant, tag_label, weight) VALUES ($2, $1, $3, $4)",
        "DELETE FROM tags WHERE tenant = $1 AND id = $2",
    ] {
        assert_eq!(reasons(sql, None), vec![], "{sql}");
    }
}

/// The library's own statements, with the tenant predicate taken out, are reported: the
/// check fails where it must on generated SQL, not only on hand-written examples.
#[test]
fn a_generated_statement_without_its_tenant_predicate_is_reported() {
    use crate::common::{Project, Task};
    use tenant_query::__private_v0_1::Generated;
    let statements = Project::statements().named();
    let find = statements
        .iter()
        .find(|(name, _)| name == "find")
        .map(|(_, s)| s.sql())
        .unwrap();
    assert_eq!(reasons(find, Some(1)), vec![]);
    let unfiltered = find.replace("\"org_id\" = $1 AND ", "");
    assert_ne!(unfiltered, find);
    assert_eq!(
        reasons(&unfiltered, None),
        vec![("projects".to_owned(), Reason::Unfiltered)]
    );

    // A batch insert whose parent guard lost its tenant predicate.
    let statements = Task::statements().named();
    let insert_many = statements
        .iter()
        .find(|(name, _)| name == "insert_many")
        .map(|(_, s)| s.sql())
        .unwrap();
    let guard = insert_many.find("p.\"org_id\" = $").unwrap();
    let end = guard + insert_many[guard..].find(" AND ").unwrap() + " AND ".len();
    let unguarded = format!("{}{}", &insert_many[..guard], &insert_many[end..]);
    assert_ne!(unguarded, insert_many);
    assert_eq!(
        reasons(&unguarded, None),
        vec![("projects".to_owned(), Reason::Unfiltered)]
    );
}

/// `cross_tenant` reads are the documented exception: they fan out to every node, and the
/// check says so.
#[tokio::test]
async fn a_cross_tenant_lookup_is_reported_as_fanning_out() {
    use crate::common::*;
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let capture = Capture::start();
    let admin = f.test_db.db().cross_tenant("routability check").unwrap();
    let owner = admin.owner_of::<Project>(p.id).await.unwrap();
    let sent = capture.finish();
    assert_eq!(
        owner.map(|s| s.tenant_id()),
        Some(f.a.tenant_scope().tenant_id())
    );
    let [s] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert!(!s.scoped);
    let found = check(&s.sql, &corpus::tables(), None);
    assert_eq!(
        found
            .iter()
            .map(|f| (f.table.as_str(), &f.reason))
            .collect::<Vec<_>>(),
        vec![("projects", &Reason::Unfiltered)],
        "{found:?}"
    );
    println!("{}", found[0]);
}
