//! The layering rule of src/lib.rs, checked on the sources: every `crate::…` path outside
//! `#[cfg(test)]` code may name only a module of its own layer or a lower one; modules of
//! an isolated layer (the services) never name one another; the leaf modules form no
//! cycle. A violation is reported with its file, line and path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::helpers::repo_file;

/// Where each top-level module sits, read from the `// Layer N: name` headings of lib.rs.
#[derive(Debug, Default)]
struct Layers {
    /// Module name → (layer number, layer name, isolated).
    of: BTreeMap<String, (u32, String, bool)>,
}

impl Layers {
    fn parse(lib_rs: &str) -> Self {
        let mut layers = Self::default();
        let mut current: Option<(u32, String, bool)> = None;
        for line in lib_rs.lines() {
            let line = line.trim();
            if let Some(heading) = line.strip_prefix("// Layer ") {
                let (number, name) = heading.split_once(':').unwrap_or((heading, ""));
                let number = number.trim().parse().unwrap_or(0);
                let isolated = name.contains("isolated");
                // The name without its explanation: `services (isolated: …).` is `services`.
                let short = name.split(['(', '.']).next().unwrap_or_default().trim();
                current = Some((number, short.to_owned(), isolated));
            } else if let Some(module) = line
                .strip_prefix("pub mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            {
                let layer = current.clone().unwrap_or((0, "no layer".to_owned(), false));
                layers.of.insert(module.to_owned(), layer);
            }
        }
        layers
    }
}

/// Source text without `#[cfg(test)] mod … { … }` blocks and without line comments.
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(open) = after.find('{') else {
            rest = "";
            break;
        };
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        // Keep the line count, so reported lines stay right.
        out.extend(after[..end].chars().filter(|c| *c == '\n'));
        rest = &after[end..];
    }
    out.push_str(rest);
    out.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a source names through `crate::`, with their line numbers.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in without_tests(text).lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // `crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.push((number + 1, first_segment(&item)));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                found.push((number + 1, first_segment(&item)));
            } else {
                found.push((number + 1, first_segment(after)));
            }
            rest = after;
        }
    }
    found.retain(|(_, module)| !module.is_empty());
    found
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every breach of the rule in `files` (path relative to src/, text).
fn violations(lib_rs: &str, files: &[(String, String)]) -> Vec<String> {
    let layers = Layers::parse(lib_rs);
    let mut problems = Vec::new();
    let mut leaf_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in files {
        let module = first_segment(path.trim_end_matches(".rs"));
        if module == "main" || module == "lib" {
            continue;
        }
        let Some((layer, layer_name, isolated)) = layers.of.get(&module) else {
            problems.push(format!(
                "src/{path}: module `{module}` has no layer in lib.rs"
            ));
            continue;
        };
        for (line, target) in crate_paths(text) {
            if target == module {
                continue;
            }
            let Some((target_layer, target_name, _)) = layers.of.get(&target) else {
                continue;
            };
            let upward = target_layer > layer;
            let sideways = target_layer == layer && *isolated;
            if upward || sideways {
                problems.push(format!(
                    "src/{path}:{line}: `{module}` ({layer_name}) imports crate::{target} ({target_name})"
                ));
            }
            if *layer == 1 && *target_layer == 1 {
                leaf_edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    // Leaf modules may use one another, but not in a circle.
    for start in leaf_edges.keys() {
        let mut stack = vec![vec![start.clone()]];
        while let Some(trail) = stack.pop() {
            let last = trail.last().cloned().unwrap_or_default();
            for next in leaf_edges.get(&last).into_iter().flatten() {
                if next == start {
                    problems.push(format!("leaf cycle: {} -> {start}", trail.join(" -> ")));
                } else if !trail.contains(next) && trail.len() < 32 {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    problems
}

fn sources(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, base, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(base).unwrap_or(&path);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push((relative.to_string_lossy().into_owned(), text));
        }
    }
}

#[test]
fn every_import_follows_the_layers_of_lib_rs() {
    let src = repo_file("src");
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let layers = Layers::parse(&lib_rs);
    for module in ["config", "db", "deps", "users", "http", "app"] {
        assert!(layers.of.contains_key(module), "{module} has a layer");
    }
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    assert!(files.len() > 50, "the sources were read");
    let problems = violations(&lib_rs, &files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_names_imports_against_the_rule() {
    let lib_rs = "// Layer 1: leaf\npub mod model;\npub mod crypto;\n// Layer 2: repos\npub mod db;\n\
                  // Layer 3: services (isolated)\npub mod auth;\npub mod users;\n// Layer 4: http\npub mod http;\n";
    let file = |path: &str, text: &str| (path.to_owned(), text.to_owned());
    let files = [
        file("model/user.rs", "use crate::crypto::Key;\n"),
        file(
            "db/users.rs",
            "use crate::model::User;\nuse crate::{crypto, http::error};\n",
        ),
        file(
            "users/admin.rs",
            "use crate::db::users;\n\nfn f() { crate::auth::login(); }\n",
        ),
        file(
            "auth/login.rs",
            "#[cfg(test)]\nmod tests {\n    use crate::http::x;\n}\n// crate::http in a comment\n",
        ),
        file("crypto.rs", "use crate::model::Email;\n"),
        file("http/routes.rs", "use crate::{auth, users::admin, db};\n"),
        file("webhooks.rs", "use crate::db;\n"),
    ];
    let problems = violations(lib_rs, &files);
    assert_eq!(
        problems,
        [
            "src/db/users.rs:2: `db` (repos) imports crate::http (http)",
            "src/users/admin.rs:3: `users` (services) imports crate::auth (services)",
            "src/webhooks.rs: module `webhooks` has no layer in lib.rs",
            "leaf cycle: crypto -> model -> crypto",
            "leaf cycle: model -> crypto -> model",
        ]
    );
}
