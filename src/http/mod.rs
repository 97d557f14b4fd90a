//! Everything that knows about HTTP: errors, extractors, middleware, routes, OpenAPI.

pub mod auth;
pub mod client;
pub mod error;
pub mod examples;
pub mod extract;
pub mod mapping;
pub mod middleware;
pub mod openapi;
pub mod openapi30;
pub mod paging;
pub mod problems;
pub mod rate_limit;
pub mod request_id;
pub mod responses;
pub mod routes;
pub mod state;
pub mod views;
