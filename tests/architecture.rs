//! The shape of the code, checked: the layers of `src/mm` (docs/ARCHITECTURE.md)
//! import only downwards, the FUSE adapter does not reach into the core's
//! internals, and no function grows past 100 lines. Each test reads the source
//! tree and names every place that breaks its rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers of `src/mm`, bottom first. A module may use its own layer's
/// submodules and any layer below; never one above. `mod.rs` of `src/mm` is the
/// façade, with `api`.
const LAYERS: &[&str] = &[
    "base", "hw", "pfn", "pagefile", "segment", "vad", "machine", "paging", "process", "fault",
    "vm", "section", "kernel", "cache", "threads", "api", "inspect",
];

/// The layer of the façade's own items (`crate::mm::Mm`, and the re-exports
/// in `src/mm/mod.rs`).
const FACADE: &str = "api";

/// The crate's macros used with a path (`crate::mm_event!`) or bare, and the
/// layer each is defined in.
const MACROS: &[(&str, &str)] = &[
    ("mm_err!", "base"),
    ("emit_event!", "base"),
    ("mm_event!", "machine"),
];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read the source tree") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file below `src/mm` (`machine/frames.rs` →
/// `["machine", "frames"]`; `mod.rs` names its directory).
fn module_path(mm: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(mm).expect("a file below src/mm");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// Whether the file is test code (its own tests are allowed to reach anywhere).
fn is_test_file(module: &[String]) -> bool {
    module.iter().any(|m| m == "tests" || m == "testutil")
}

/// The text of a file without `//` comments and without its `#[cfg(test)]`
/// modules (whose lines are blanked, so line numbers stay).
fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut skipping: Option<i64> = None;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        if let Some(depth) = skipping.as_mut() {
            *depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            if *depth <= 0 {
                skipping = None;
            }
            out.push(String::new());
            continue;
        }
        let trimmed = code.trim();
        if trimmed == "#[cfg(test)]" {
            pending_cfg_test = true;
            out.push(String::new());
            continue;
        }
        if pending_cfg_test && trimmed.starts_with("mod ") && trimmed.ends_with('{') {
            skipping = Some(1);
            pending_cfg_test = false;
            out.push(String::new());
            continue;
        }
        pending_cfg_test = false;
        out.push(code.to_string());
    }
    out
}

/// The top-level module (layer) each `crate::mm::…` or `super::…` path in `line`
/// reaches, given the module the line is in. A path to an item of the façade
/// (`crate::mm::Mm`) reaches the façade.
fn layers_reached(line: &str, module: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary && rest.starts_with("crate::mm::") {
            let after = &rest["crate::mm::".len()..];
            out.extend(first_segments(after).into_iter().map(|s| layer_of(&s)));
            i += "crate::mm::".len();
            continue;
        }
        if boundary && rest.starts_with("super::") {
            let mut ups = 0;
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                ups += 1;
                tail = t;
            }
            let base_len = module.len().saturating_sub(ups);
            if base_len > 0 {
                out.push(module[0].clone());
            } else {
                out.extend(first_segments(tail).into_iter().map(|s| layer_of(&s)));
            }
            i += rest.len() - tail.len();
            continue;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// The first segment of a path, or each first segment of a `{a, b::c}` group.
fn first_segments(path: &str) -> Vec<String> {
    if let Some(group) = path.strip_prefix('{') {
        let end = group.find('}').unwrap_or(group.len());
        return group[..end]
            .split(',')
            .filter_map(|p| {
                let name: String = p
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                (!name.is_empty()).then_some(name)
            })
            .collect();
    }
    let name: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() {
        Vec::new()
    } else {
        vec![name]
    }
}

/// A name right after `crate::mm::`: a layer, or else an item of the façade.
fn layer_of(name: &str) -> String {
    if rank(name).is_some() {
        name.to_string()
    } else {
        FACADE.to_string()
    }
}

#[test]
fn mm_layers_import_only_downwards() {
    let mm = root().join("src/mm");
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in rust_files(&mm) {
        let module = module_path(&mm, &file);
        if module.is_empty() || is_test_file(&module) {
            continue; // the façade's root may use every layer; tests reach anywhere
        }
        let own = &module[0];
        let Some(own_rank) = rank(own) else {
            violations.push(format!(
                "{}: src/mm/{own} is in no layer; add it to LAYERS and docs/ARCHITECTURE.md",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (n, line) in code_lines(&text).iter().enumerate() {
            for target in layers_reached(line, &module) {
                let target_rank = rank(&target).expect("layers_reached names layers");
                if target_rank > own_rank {
                    violations.push(format!(
                        "{}:{}: {own} (layer {own_rank}) uses {target} (layer {target_rank}): {}",
                        file.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
            for (mac, layer) in MACROS {
                let r = rank(layer).expect("a layer");
                if line.contains(mac) && r > own_rank && !line.contains("macro_rules!") {
                    violations.push(format!(
                        "{}:{}: {own} uses {mac}, defined in {layer}",
                        file.display(),
                        n + 1
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked > 5000,
        "only {checked} lines read: is src/mm there?"
    );
    assert!(
        violations.is_empty(),
        "upward imports in src/mm (docs/ARCHITECTURE.md draws the layers):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_layer_check_sees_upward_paths() {
    // The checker itself: these must be seen, or the test above proves nothing.
    let m = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        layers_reached("use crate::mm::fault::touch;", &m(&["machine", "frames"])),
        ["fault"]
    );
    assert_eq!(
        layers_reached("use crate::mm::{Mm, base::types::Va};", &m(&["vm"])),
        ["api", "base"]
    );
    assert_eq!(
        layers_reached(
            "use super::super::section::view;",
            &m(&["fault", "prototype"])
        ),
        ["section"]
    );
    assert_eq!(
        layers_reached("use super::frames::Extent;", &m(&["machine", "commit"])),
        ["machine"]
    );
    assert_eq!(
        layers_reached("use super::status;", &m(&["pagefile"])),
        ["api"]
    );
    assert!(layers_reached("let x = mycrate::mm::fault;", &m(&["hw"])).is_empty());
    let code = code_lines(
        "use a; // crate::mm::api\n#[cfg(test)]\nmod tests {\n    use crate::mm::api;\n}\nuse b;",
    );
    assert_eq!(code.len(), 6);
    assert!(code.iter().all(|l| !l.contains("api")), "{code:?}");
    assert_eq!(code[5], "use b;");
}

#[test]
fn the_fuse_adapter_asks_the_core_through_its_methods() {
    let fs = root().join("src/fs");
    let mut violations = Vec::new();
    for file in rust_files(&fs) {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (n, line) in code_lines(&text).iter().enumerate() {
            for forbidden in [
                ".machine()",
                "mm::machine",
                "mm::hw::pte",
                "PteState",
                "mm::pfn::PfnDatabase",
            ] {
                if line.contains(forbidden) {
                    violations.push(format!(
                        "{}:{}: `{forbidden}`: {}",
                        file.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "src/fs reaches into the core's internals (ask `Mm` instead):\n{}",
        violations.join("\n")
    );
}

/// Functions longer than this many lines (signature to closing brace) are split.
const MAX_FUNCTION_LINES: usize = 100;

/// Every `fn` item in `text` with its name, first line and length in lines.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines = code_lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = fn_name(&lines[i]) else {
            i += 1;
            continue;
        };
        let (mut depth, mut opened) = (0i64, false);
        let mut j = i;
        while j < lines.len() {
            let l = strip_literals(&lines[j]);
            if !opened && l.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                out.push((name.clone(), i + 1, j - i + 1));
                break;
            }
            j += 1;
        }
        i += 1;
    }
    out
}

/// The name of the function a line declares, if it does.
fn fn_name(line: &str) -> Option<String> {
    let t = line.trim_start();
    let mut words = t.split_whitespace().peekable();
    while let Some(w) = words.peek() {
        if ["pub", "const", "async", "unsafe", "extern"].contains(w) || w.starts_with("pub(") {
            words.next();
        } else {
            break;
        }
    }
    if words.next()? != "fn" {
        return None;
    }
    let name: String = words
        .next()?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// A line with its string and char literals emptied (braces in them do not count).
fn strip_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            '\'' if chars.clone().nth(1) == Some('\'') || chars.peek() == Some(&'\\') => {
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                }
                out.push_str("' '");
            }
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_100_lines() {
    let mut long: BTreeMap<String, usize> = BTreeMap::new();
    for dir in ["src", "mount-tests", "examples", "tests"] {
        for file in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (name, line, len) in functions(&text) {
                if len > MAX_FUNCTION_LINES {
                    long.insert(format!("{}:{line} {name}", file.display()), len);
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them along the lines their comments draw):\n{}",
        long.iter()
            .map(|(f, n)| format!("{f}: {n} lines"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_length_check_measures_functions() {
    let text = "fn a() {\n    let s = \"}\";\n}\n\npub(crate) fn b(x: u8)\n    -> u8\n{\n    x\n}\nfn c();\n";
    assert_eq!(
        functions(text),
        [("a".to_string(), 1, 3), ("b".to_string(), 5, 5)]
    );
}
