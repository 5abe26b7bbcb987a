//! The layout, checked by reading the source's `use` lines and `crate::` paths: no module
//! imports one that imports it back (directly or round a circle), imports only go down the
//! floors `main → server → app → routes → domain → store/kv → leaves`, and `routes/` holds no
//! SQL (no `sea_orm`, and of `store` only the entity types it shapes into responses).
//! ARCHITECTURE.md describes the same picture in words.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Floors, highest first; a module takes the floor of its longest listed prefix.
const FLOORS: &[(&str, u8)] = &[
    ("main", 6),
    ("server", 5),
    ("app", 4),
    ("routes", 3),
    ("state", 3),
    ("workers", 3),
    ("domain", 2),
    ("store", 1),
    ("kv", 1),
    ("infra", 1),
    ("auth", 1),
    ("store::entities", 0),
    ("auth::password", 0),
    ("auth::token", 0),
    ("config", 0),
    ("error", 0),
    ("ids", 0),
    ("metrics", 0),
    ("storage", 0),
    ("mailer", 0),
];

fn floor(module: &str) -> Option<u8> {
    FLOORS
        .iter()
        .filter(|(prefix, _)| module == *prefix || module.starts_with(&format!("{prefix}::")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, f)| *f)
}

/// Every module of the crate, by path (`domain::rest::crud`), with its source: comments and
/// the `#[cfg(test)]` part left out.
fn modules() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(&root)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            let text = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            let text: String = text
                .lines()
                .map(|l| match l.find("//") {
                    Some(at) => &l[..at],
                    None => l,
                })
                .collect::<Vec<_>>()
                .join("\n");
            // The binary names the library by its crate name.
            let text = text.replace("tessera_api::", "crate::");
            out.insert(parts.join("::"), text);
        }
    }
    out
}

/// The paths a `use crate::…;` tree names, flattened: `crate::{a::b, c::{d, e}}` gives `a::b`,
/// `c::d`, `c::e`.
fn flatten(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let head = tree.split(" as ").next().unwrap_or(tree).trim();
        let path = format!("{prefix}{head}");
        out.push(path.trim_end_matches("::self").to_string());
        return;
    };
    let head = &tree[..open];
    let body = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut depth = 0;
    let mut start = 0;
    let prefix = format!("{prefix}{head}");
    for (i, ch) in body.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                if !body[start..i].trim().is_empty() {
                    flatten(&prefix, &body[start..i], out);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if !body[start..].trim().is_empty() {
        flatten(&prefix, &body[start..], out);
    }
}

/// The module a path lands in: its longest prefix that is a module.
fn resolve<'a>(path: &str, names: &'a BTreeSet<String>) -> Option<&'a String> {
    let segs: Vec<&str> = path.split("::").collect();
    (1..=segs.len())
        .rev()
        .find_map(|n| names.get(&segs[..n].join("::")))
}

fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (name, src) in modules {
        let mut paths = Vec::new();
        let mut rest = src.as_str();
        while let Some(at) = rest.find("use crate::") {
            let after = &rest[at + "use crate::".len()..];
            let end = after.find(';').unwrap_or(after.len());
            flatten("", &after[..end], &mut paths);
            rest = &after[end..];
        }
        let mut rest = src.as_str();
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            paths.push(after[..end].trim_end_matches(':').to_string());
            rest = &after[end..];
        }
        let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
        let mut rest = src.as_str();
        while let Some(at) = rest.find("super::") {
            let after = &rest[at + "super::".len()..];
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            let tail = after[..end].trim_end_matches(':');
            paths.push(if parent.is_empty() {
                tail.to_string()
            } else {
                format!("{parent}::{tail}")
            });
            rest = &after[end..];
        }
        let targets: BTreeSet<String> = paths
            .iter()
            .filter_map(|p| resolve(p, &names))
            // A module's own items, and its parent's `mod` lines, are not imports.
            .filter(|t| *t != name && !name.starts_with(&format!("{t}::")))
            .cloned()
            .collect();
        edges.insert(name.clone(), targets);
    }
    edges
}

/// A circle of imports, if there is one.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, done, path) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut done, &mut Vec::new()))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let edges = imports(&modules());
    // The checker sees the imports it must: the loop's answers use its completion module.
    assert!(edges["domain::volunteer::answers"].contains("domain::volunteer::completion"));
    assert_eq!(circle(&edges), None, "an import circle");
    // And it finds one when there is one.
    let mut looped = edges.clone();
    looped
        .entry("store::counters".into())
        .or_default()
        .insert("domain::volunteer::answers".into());
    assert!(circle(&looped).is_some());
}

/// Every import that goes up a floor.
fn upward(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for (from, targets) in edges {
        let f = floor(from).unwrap_or_else(|| panic!("{from} has no floor in FLOORS"));
        for to in targets {
            let t = floor(to).unwrap_or_else(|| panic!("{to} has no floor in FLOORS"));
            if t > f {
                found.push(format!("{from} (floor {f}) imports {to} (floor {t})"));
            }
        }
    }
    found
}

#[test]
fn imports_only_go_down_the_floors() {
    let modules = modules();
    let edges = imports(&modules);
    let found = upward(&edges);
    assert!(found.is_empty(), "imports going up:\n{}", found.join("\n"));
    // Every layer is there to be checked, and the checker sees what is imported.
    for layer in [
        "server", "app", "routes", "state", "workers", "domain", "store", "kv",
    ] {
        assert!(modules.contains_key(layer), "{layer} is missing");
    }
    assert!(edges["routes::volunteer"].contains("domain::volunteer::scheduler"));
    assert!(edges["state"].contains("infra"));
    // And an import going up is seen.
    let mut up = edges.clone();
    up.entry("domain::platform::stats".into())
        .or_default()
        .insert("state".into());
    assert_eq!(upward(&up).len(), 1);
}

#[test]
fn routes_hold_no_sql() {
    let modules = modules();
    let edges = imports(&modules);
    let mut found = Vec::new();
    for (name, src) in modules.iter().filter(|(n, _)| n.starts_with("routes")) {
        if src.contains("sea_orm") {
            found.push(format!("{name} uses sea_orm"));
        }
        for to in &edges[name] {
            if floor(to) == Some(1) && !to.starts_with("auth") {
                found.push(format!("{name} imports {to}"));
            }
        }
    }
    assert!(found.is_empty(), "SQL in routes:\n{}", found.join("\n"));
}
