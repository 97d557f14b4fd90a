//! Closed-loop load with wrk: one Lua script per scenario, and a `done` hook that prints the
//! figures as one JSON line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::report::Figures;

/// Shared by every script: thread ids for seeding and slicing, and the JSON summary.
const COMMON: &str = r#"
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function lines(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  return out
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"#;

/// A scenario's request generator (Lua), after [`COMMON`]. `args` are its data files.
pub fn script(name: &str) -> &'static str {
    match name {
        "me" => {
            r#"
local tokens
function init(args)
  tokens = lines(args[1])
  math.randomseed(id * 7919 + os.time())
end
function request()
  return wrk.format("GET", "/api/v1/users/me", {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]})
end
"#
        }
        "login" => {
            r#"
local emails
function init(args)
  emails = lines(args[1])
  math.randomseed(id * 7919 + os.time())
end
function request()
  local body = '{"email":"' .. emails[math.random(#emails)] .. '","password":"a load test passphrase"}'
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end
"#
        }
        "refresh" => {
            r#"
local tokens
local next_index
function init(args)
  tokens = lines(args[1])
  next_index = id
end
function request()
  -- Each thread walks its own slice, so no token is presented twice.
  local body = '{"refresh_token":"' .. tokens[((next_index - 1) % #tokens) + 1] .. '"}'
  next_index = next_index + 2
  return wrk.format("POST", "/api/v1/auth/refresh", {["Content-Type"] = "application/json"}, body)
end
"#
        }
        "mfa" => {
            r#"
local tokens
local code
local next_index
function init(args)
  tokens = lines(args[1])
  code = lines(args[2])[1]
  next_index = id
end
function request()
  -- Each thread walks its own slice: every challenge (and its user's code) is spent once.
  local body = '{"mfa_token":"' .. tokens[((next_index - 1) % #tokens) + 1] .. '","code":"' .. code .. '"}'
  next_index = next_index + 2
  return wrk.format("POST", "/api/v1/auth/login/mfa", {["Content-Type"] = "application/json"}, body)
end
"#
        }
        "passkey" => {
            r#"
local bodies
local next_index
function init(args)
  bodies = lines(args[1])
  next_index = id
end
function request()
  -- Each thread walks its own slice: every challenge is answered once.
  local body = bodies[((next_index - 1) % #bodies) + 1]
  next_index = next_index + 2
  return wrk.format("POST", "/api/v1/auth/passkey/login", {["Content-Type"] = "application/json"}, body)
end
"#
        }
        "passkey_options" => {
            r#"
function request()
  return wrk.format("POST", "/api/v1/auth/passkey/options", {["Content-Type"] = "application/json"}, "{}")
end
"#
        }
        "list" => {
            r#"
-- An admin console: browsing pages by role or by name, and looking people up by part of
-- their surname (search terms come from the seeded names).
local token
local terms
function init(args)
  token = lines(args[1])[1]
  terms = lines(args[2])
  math.randomseed(id * 7919 + os.time())
end
function request()
  local pick = math.random(10)
  local path
  if pick <= 4 then
    path = "/api/v1/users?q=" .. terms[math.random(#terms)] .. "&role=user"
  elseif pick <= 7 then
    path = "/api/v1/users?role=user&page=" .. math.random(5)
  elseif pick <= 9 then
    path = "/api/v1/users?status=active&sort=name&order=asc&page=" .. math.random(5)
  else
    path = "/api/v1/users?q=" .. terms[math.random(#terms)]
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
"#
        }
        "register" => {
            r#"
local n = 0
function init(args)
  math.randomseed(id * 7919 + os.time())
end
function request()
  n = n + 1
  local body = string.format('{"email":"new-%d-%d-%d@bench.example","password":"a load test passphrase","name":"New User"}',
    id, n, math.random(1000000000))
  return wrk.format("POST", "/api/v1/auth/register", {["Content-Type"] = "application/json"}, body)
end
"#
        }
        "one-client" => {
            r#"
-- Every request from one client behind the trusted proxy: one rate-limit key.
function request()
  return wrk.format("GET", "/health/live", {["X-Forwarded-For"] = "2001:db8::1"})
end
"#
        }
        "new-clients" => {
            r#"
-- Every request from a /64 never seen before (args[1] keeps runs apart), as a client
-- rotating its IPv6 prefixes would send them.
local n = 0
local run = 0
function init(args)
  run = tonumber(args[1]) or 0
end
function request()
  n = n + 1
  local xff = string.format("2001:%x:%x:%x::1", run * 16 + id, math.floor(n / 65536) % 65536, n % 65536)
  return wrk.format("GET", "/health/live", {["X-Forwarded-For"] = xff})
end
"#
        }
        _ => {
            r#"
function request()
  return wrk.format("GET", "/")
end
"#
        }
    }
}

/// Runs wrk against `url` with `connections` for `duration`; `data` are the scenario's files.
pub async fn run(
    work_dir: &Path,
    scenario: &str,
    url: &str,
    connections: usize,
    duration: Duration,
    data: &[&Path],
) -> anyhow::Result<Figures> {
    let args: Vec<String> = data
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_with(work_dir, scenario, url, connections, duration, &args).await
}

/// [`run`] with the script's arguments given as text.
pub async fn run_with(
    work_dir: &Path,
    scenario: &str,
    url: &str,
    connections: usize,
    duration: Duration,
    data: &[&str],
) -> anyhow::Result<Figures> {
    let script_path: PathBuf = work_dir.join(format!("{scenario}.lua"));
    tokio::fs::write(&script_path, format!("{COMMON}\n{}", script(scenario))).await?;
    let threads = 2.min(connections).to_string();
    let mut command = tokio::process::Command::new("wrk");
    command
        .arg("-t")
        .arg(&threads)
        .arg("-c")
        .arg(connections.to_string())
        .arg("-d")
        .arg(format!("{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&script_path)
        .arg(url);
    if !data.is_empty() {
        command.arg("--").args(data);
    }
    let output = command
        .output()
        .await
        .context("run wrk (apt-get install wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_JSON "))
        .with_context(|| {
            format!(
                "wrk printed no summary: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let json: serde_json::Value = serde_json::from_str(line)?;
    let number = |key: &str| json[key].as_f64().unwrap_or(0.0);
    let seconds = number("duration_us") / 1e6;
    Ok(Figures {
        requests_per_second: if seconds > 0.0 {
            number("requests") / seconds
        } else {
            0.0
        },
        p50_ms: number("p50_us") / 1000.0,
        p99_ms: number("p99_us") / 1000.0,
        p999_ms: number("p999_us") / 1000.0,
        max_ms: number("max_us") / 1000.0,
        errors: number("errors") as u64,
        requests: number("requests") as u64,
    })
}
