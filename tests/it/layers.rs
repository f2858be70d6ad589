//! The module graph of each crate is one-directional (issue 11): no top-level module reaches,
//! through `crate::` paths, a module that reaches back to it. The check reads the sources, so a
//! module added later is covered without being named here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module -> the top-level modules its code names through `crate::` (comments and
/// `#[cfg(test)]` modules skipped: a doc link or a test does not make a dependency).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" || module == "tests" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let edges = graph.entry(module.clone()).or_default();
        for line in code.lines() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (i, _) in line.match_indices("crate::") {
                if i > 0 && line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue; // `mammoth_crate::`, say
                }
                let rest = &line[i + "crate::".len()..];
                let target: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !target.is_empty() && target != module {
                    edges.insert(target);
                }
            }
        }
    }
    // Items re-exported at the crate root (`crate::Ticket`) are not modules.
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for edges in graph.values_mut() {
        edges.retain(|m| modules.contains(m));
    }
    graph
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Every cycle's modules, found by depth-first search (empty when the graph is a DAG).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            found.push(cycle);
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

/// Checks `crate_src` has no cycle but the `known` ones (each given as its sorted modules).
fn assert_acyclic(crate_src: &str, known: &[&[&str]]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_src);
    let graph = module_graph(&src);
    assert!(graph.len() > 3, "read too few modules from {crate_src}");
    let new: Vec<Vec<String>> = cycles(&graph)
        .into_iter()
        .filter(|cycle| {
            let mut members: Vec<&str> = cycle.iter().map(String::as_str).collect();
            members.sort();
            members.dedup();
            !known.iter().any(|k| k == &members.as_slice())
        })
        .collect();
    assert!(
        new.is_empty(),
        "module cycles in {crate_src}: {new:?}\nthe graph: {graph:#?}"
    );
}

#[test]
fn the_server_crate_has_no_module_cycle() {
    assert_acyclic("src", &[]);
}

#[test]
fn the_actors_crate_has_no_module_cycle() {
    // Known, in modules owned by other work this sitting (see DESIGN "Where things live"):
    // the query engine and the collection/index it plans over, and the realtime hub that asks
    // its project actor for windows. Any other cycle fails.
    assert_acyclic(
        "actors/src",
        &[
            &["collection", "index", "query"],
            &["collection", "query"],
            &["project", "realtime"],
        ],
    );
}

#[test]
fn the_storage_crate_has_no_module_cycle() {
    // Known: the writer and its admission gate (storage work, not this issue's).
    assert_acyclic("storage/src", &[&["gate", "writer"]]);
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("http".to_owned(), BTreeSet::from(["dashboard".to_owned()]));
    graph.insert("dashboard".to_owned(), BTreeSet::from(["http".to_owned()]));
    assert_eq!(cycles(&graph).len(), 1);
}
