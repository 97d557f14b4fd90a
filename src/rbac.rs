//! Who may do what: the permission table of the contract, in one place. Every
//! administration operation asks it; no handler or service checks a role by itself.
//!
//! The "never the last active admin" rule needs the database and a lock, so the services
//! enforce it in the transaction of the change; everything else is decided here.

use uuid::Uuid;

use crate::model::{Role, User};

/// An operation on other users (or on the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ListUsers,
    ReadUser,
    EditUser,
    DeactivateUser,
    RestoreUser,
    CreateUser,
    ChangeRole,
    RevokeSessions,
    /// Switch off another user's two-step sign-in (a lost phone).
    ResetMfa,
    ReadAllAudit,
    /// Import users (with their password hashes) and export every user.
    TransferUsers,
}

/// Which targets a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Any user, the actor included.
    Any,
    /// Only the actor itself.
    OnlySelf,
    /// Anyone but the actor.
    NotSelf,
    /// Only users whose role is `user` (so never the actor, unless it is a plain user).
    OnlyRoleUser,
}

/// The table: (permission, role of the actor, targets). A pair missing from it is refused.
pub const RULES: &[(Permission, Role, Scope)] = &[
    (Permission::ListUsers, Role::Admin, Scope::Any),
    (Permission::ListUsers, Role::Manager, Scope::Any),
    (Permission::ReadUser, Role::Admin, Scope::Any),
    (Permission::ReadUser, Role::Manager, Scope::Any),
    (Permission::ReadUser, Role::User, Scope::OnlySelf),
    (Permission::EditUser, Role::Admin, Scope::Any),
    (Permission::EditUser, Role::Manager, Scope::OnlyRoleUser),
    (Permission::DeactivateUser, Role::Admin, Scope::NotSelf),
    (
        Permission::DeactivateUser,
        Role::Manager,
        Scope::OnlyRoleUser,
    ),
    (Permission::RestoreUser, Role::Admin, Scope::Any),
    (Permission::CreateUser, Role::Admin, Scope::Any),
    (Permission::ChangeRole, Role::Admin, Scope::NotSelf),
    (Permission::RevokeSessions, Role::Admin, Scope::Any),
    (Permission::ResetMfa, Role::Admin, Scope::Any),
    (Permission::ReadAllAudit, Role::Admin, Scope::Any),
    (Permission::TransferUsers, Role::Admin, Scope::Any),
];

/// The actor may not do this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("forbidden")]
pub struct Forbidden;

fn scope(actor: Role, permission: Permission) -> Option<Scope> {
    RULES
        .iter()
        .find(|(p, r, _)| *p == permission && *r == actor)
        .map(|(_, _, scope)| *scope)
}

/// The check before looking anything up: may the actor attempt this at all, on this id?
/// (A plain user asking for another user's id is refused without revealing whether it
/// exists.)
pub fn may_attempt(
    actor: &User,
    permission: Permission,
    target_id: Option<Uuid>,
) -> Result<(), Forbidden> {
    match (scope(actor.role, permission), target_id) {
        (None, _) => Err(Forbidden),
        (Some(Scope::OnlySelf), Some(id)) if id != actor.id => Err(Forbidden),
        (Some(Scope::NotSelf), Some(id)) if id == actor.id => Err(Forbidden),
        _ => Ok(()),
    }
}

/// The full check against the target as it is now.
pub fn authorize(actor: &User, permission: Permission, target: &User) -> Result<(), Forbidden> {
    let itself = actor.id == target.id;
    let allowed = match scope(actor.role, permission) {
        None => false,
        Some(Scope::Any) => true,
        Some(Scope::OnlySelf) => itself,
        Some(Scope::NotSelf) => !itself,
        Some(Scope::OnlyRoleUser) => target.role == Role::User && !itself,
    };
    if allowed { Ok(()) } else { Err(Forbidden) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn user(role: Role) -> User {
        let now = chrono::Utc::now();
        User {
            id: Uuid::now_v7(),
            email: String::new(),
            email_verified: true,
            name: "x".into(),
            role,
            status: Status::Active,
            has_avatar: false,
            preferences: serde_json::json!({}),
            created_at: now,
            updated_at: now,
            last_login_at: None,
            deactivated_at: None,
            external_id: None,
        }
    }

    #[test]
    fn the_table_matches_the_contract() {
        use Permission as P;
        let (admin, manager, plain) = (user(Role::Admin), user(Role::Manager), user(Role::User));
        let other_admin = user(Role::Admin);
        let other_manager = user(Role::Manager);
        let other_user = user(Role::User);
        let ok = |actor: &User, p: Permission, target: &User| authorize(actor, p, target).is_ok();

        // List and read: admin and manager; a user only itself.
        assert!(ok(&manager, P::ReadUser, &other_admin));
        assert!(ok(&plain, P::ReadUser, &plain));
        assert!(!ok(&plain, P::ReadUser, &other_user));
        assert!(may_attempt(&plain, P::ListUsers, None).is_err());
        assert!(may_attempt(&plain, P::ReadUser, Some(other_user.id)).is_err());

        // Edit others: admin any, manager only role user.
        assert!(ok(&admin, P::EditUser, &other_manager));
        assert!(ok(&manager, P::EditUser, &other_user));
        assert!(!ok(&manager, P::EditUser, &other_manager));
        assert!(!ok(&manager, P::EditUser, &manager));
        assert!(!ok(&plain, P::EditUser, &other_user));

        // Deactivate: admin any but itself, manager only role user, user never.
        assert!(ok(&admin, P::DeactivateUser, &other_admin));
        assert!(!ok(&admin, P::DeactivateUser, &admin));
        assert!(may_attempt(&admin, P::DeactivateUser, Some(admin.id)).is_err());
        assert!(ok(&manager, P::DeactivateUser, &other_user));
        assert!(!ok(&manager, P::DeactivateUser, &other_admin));
        assert!(!ok(&plain, P::DeactivateUser, &other_user));

        // Admin only: restore, create, roles (not its own), others' sessions, the audit trail.
        for p in [
            P::RestoreUser,
            P::CreateUser,
            P::RevokeSessions,
            P::ReadAllAudit,
            P::ChangeRole,
            P::TransferUsers,
        ] {
            assert!(ok(&admin, p, &other_user), "{p:?}");
            assert!(!ok(&manager, p, &other_user), "{p:?}");
            assert!(!ok(&plain, p, &other_user), "{p:?}");
        }
        assert!(!ok(&admin, P::ChangeRole, &admin));
    }

    #[test]
    fn every_permission_has_a_rule() {
        use Permission as P;
        for p in [
            P::ListUsers,
            P::ReadUser,
            P::EditUser,
            P::DeactivateUser,
            P::RestoreUser,
            P::CreateUser,
            P::ChangeRole,
            P::RevokeSessions,
            P::ReadAllAudit,
            P::TransferUsers,
        ] {
            assert!(RULES.iter().any(|(q, _, _)| *q == p), "{p:?}");
        }
    }
}
