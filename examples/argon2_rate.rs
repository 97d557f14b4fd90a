//! Raw Argon2id rate with the service's parameters on the service's hashing pool: the
//! ceiling for logins per second on this machine.
//!
//!     cargo run --release --example argon2_rate -- [threads] [hashes]

use std::time::Instant;

use gatehouse::passwords::{ITERATIONS, LANES, MEMORY_KIB, Passwords};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let threads: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let hashes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let passwords = Passwords::new(threads)?;
    let stored = passwords.hash("a load test passphrase").await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..hashes {
        let passwords = passwords.clone();
        let stored = stored.clone();
        tasks.spawn(async move {
            passwords
                .verify("a load test passphrase", Some(&stored))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "argon2id m={MEMORY_KIB} KiB t={ITERATIONS} p={LANES}: {hashes} verifications on {threads} threads in {seconds:.2} s = {:.1}/s ({:.1} ms each per thread)",
        hashes as f64 / seconds,
        seconds * 1000.0 * threads as f64 / hashes as f64
    );
    Ok(())
}
