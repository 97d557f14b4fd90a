//! End-to-end tests: the real server on a random port, a fresh database per test.

mod helpers;
mod mail;
mod private;
mod soft_passkey;

mod attacks;
mod audit;
mod auth;
mod avatars;
mod binary;
mod debug_output;
mod errors;
mod faults;
mod hardening;
mod health;
mod layers;
mod me;
mod mfa;
mod middleware;
mod migrations;
mod openapi;
mod passkeys;
mod rate_limits;
mod rbac_matrix;
mod tokens;
mod transfer;
mod users;
