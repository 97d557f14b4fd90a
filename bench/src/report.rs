//! Figures of a scenario, and the printed table.

use serde_json::{Value, json};

/// What one scenario measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub requests: u64,
}

impl Figures {
    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "requests_per_second": (self.requests_per_second * 10.0).round() / 10.0,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "p999_ms": self.p999_ms, "max_ms": self.max_ms,
            "errors": self.errors, "requests": self.requests,
        })
    }
}

/// A table row.
pub struct Row {
    pub scenario: String,
    pub connections: String,
    pub figures: Figures,
}

/// Prints the table of scenarios.
pub fn print(rows: &[Row]) {
    println!(
        "\n{:<44} {:>6} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "scenario", "conns", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
    );
    println!("{}", "-".repeat(110));
    for row in rows {
        let f = &row.figures;
        println!(
            "{:<44} {:>6} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            row.scenario,
            row.connections,
            f.requests_per_second,
            f.p50_ms,
            f.p99_ms,
            f.p999_ms,
            f.max_ms,
            f.errors
        );
    }
}
