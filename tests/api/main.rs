//! End-to-end tests: the real server on a random port, a fresh database per test.

mod helpers;
mod mail;

mod auth;
mod binary;
mod errors;
mod health;
mod middleware;
mod migrations;
mod openapi;
mod tokens;
