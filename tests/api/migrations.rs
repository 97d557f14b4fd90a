//! The migrations go all the way up, all the way down, and up again to the same schema.

use gatehouse::db;
use sqlx::PgPool;

use crate::helpers::{TestDb, count};

/// A comparable description of everything the migrations create in `public`.
async fn schema(pool: &PgPool) -> Vec<String> {
    let queries = [
        "SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, coalesce(column_default, '-'))
           FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
        "SELECT format('constraint %s on %s: %s', conname, conrelid::regclass, pg_get_constraintdef(oid))
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_sqlx_migrations'",
        "SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
        "SELECT format('trigger %s', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal",
        "SELECT format('function %s(%s)', proname, pg_get_function_identity_arguments(oid))
           FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
        "SELECT format('extension %s', extname) FROM pg_extension WHERE extname <> 'plpgsql'",
    ];
    let mut lines = Vec::new();
    for query in queries {
        let rows: Vec<String> = sqlx::query_scalar(query)
            .fetch_all(pool)
            .await
            .expect(query);
        lines.extend(rows);
    }
    lines.sort();
    lines
}

#[tokio::test]
async fn migrations_round_trip_to_the_same_schema() {
    let test_db = TestDb::empty().await;
    let pool = test_db.pool().await;
    assert!(schema(&pool).await.is_empty(), "a fresh database is empty");

    db::migrate_up(&pool).await.expect("up");
    let first = schema(&pool).await;
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("column users.email_blind_index"))
    );
    assert!(
        first
            .iter()
            .any(|l| l.contains("audit_events_no_update_or_delete"))
    );
    assert!(db::migrations_current(&pool).await.expect("query"));

    let reverted = db::migrate_down(&pool, usize::MAX).await.expect("down");
    assert_eq!(
        reverted.len(),
        db::status(&pool).await.expect("status").len()
    );
    assert_eq!(
        schema(&pool).await,
        Vec::<String>::new(),
        "down removes everything"
    );
    assert!(!db::migrations_current(&pool).await.expect("query"));

    db::migrate_up(&pool).await.expect("up again");
    assert_eq!(
        schema(&pool).await,
        first,
        "up after down gives the same schema"
    );
}

#[tokio::test]
async fn each_migration_reverts_and_reapplies_one_step_at_a_time() {
    let (_test_db, pool) = TestDb::migrated().await;
    let full = schema(&pool).await;
    let count = db::status(&pool).await.expect("status").len();
    for step in 1..=count {
        let reverted = db::migrate_down(&pool, 1).await.expect("down one");
        assert_eq!(reverted.len(), 1, "step {step}");
        let applied = db::status(&pool)
            .await
            .expect("status")
            .iter()
            .filter(|m| m.applied)
            .count();
        assert_eq!(applied, count - step);
    }
    assert_eq!(
        db::migrate_down(&pool, 1).await.expect("nothing left"),
        Vec::<i64>::new()
    );
    db::migrate_up(&pool).await.expect("up");
    assert_eq!(schema(&pool).await, full);
}

#[tokio::test]
async fn the_audit_table_refuses_update_delete_and_truncate() {
    let (_test_db, pool) = TestDb::migrated().await;
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO audit_events (id, action, outcome) VALUES ($1, 'auth.login', 'success')",
    )
    .bind(id)
    .execute(&pool)
    .await
    .expect("insert is allowed");
    for statement in [
        "UPDATE audit_events SET outcome = 'failure'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let error = sqlx::query(statement).execute(&pool).await.err();
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
    let events = count(&pool, "SELECT count(*) FROM audit_events").await;
    assert_eq!(events, 1);
}

/// Stored names decode into their enums; a name that is not a variant fails the read
/// rather than turning into some default (a stored `root` role never reads as `user`).
#[tokio::test]
async fn stored_names_decode_into_their_enums_or_fail() {
    use gatehouse::model::{Action, Role, Status};
    let (_db, pool) = TestDb::migrated().await;
    let role: Role = sqlx::query_scalar("SELECT 'manager'::text")
        .fetch_one(&pool)
        .await
        .expect("a role");
    assert_eq!(role, Role::Manager);
    let action: Action = sqlx::query_scalar("SELECT 'user.role_changed'")
        .fetch_one(&pool)
        .await
        .expect("an action");
    assert_eq!(action, Action::UserRoleChanged);
    let refused = sqlx::query_scalar::<_, Role>("SELECT 'root'")
        .fetch_one(&pool)
        .await;
    assert!(
        matches!(&refused, Err(sqlx::Error::ColumnDecode { source, .. })
            if source.to_string().contains("unexpected Role `root`")),
        "{refused:?}"
    );
    let statuses: Vec<Status> = sqlx::query_scalar("SELECT unnest($1::text[])")
        .bind(Status::ALL)
        .fetch_all(&pool)
        .await
        .expect("statuses round-trip as a text array");
    assert_eq!(statuses, Status::ALL);
}
