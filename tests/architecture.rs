//! Guards the source tree's shape so CI keeps issue 12's "done" criteria true: no file in `src/`
//! over 600 lines; no import cycle between files; layers one way (server → scrape → services →
//! inventory → transport → the bottom), the simulator apart; a service named outside its folder
//! only by the registries and the demo, never by another service. Std only: it reads
//! `src/**/*.rs` as text, drops comments, literals and `#[cfg(test)]` code, and follows
//! `crate::`/`super::`/`self::` paths (brace groups too) and `mod x;` to files. A failure lists
//! every offender with file and line, the rule and the fix.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Longest a file in `src/` may be (tests included: a big `mod tests` moves to a sibling file).
const MAX_LINES: usize = 600;
/// The one-way stack, top to bottom, by top-level module; the last layer is "the bottom".
const LAYERS: &str = "server > scrape > services > inventory > transport > \
                      config metrics status upstream sync watch logging debug_log deadline repeats";
/// The wiring on top: may import anything, imported by nothing.
const WIRING: [&str; 3] = ["app", "main", "lib"];
/// The only files outside a service's folder that may name it: the registries and the demo.
const NAMERS: [&str; 3] = ["src/services/mod.rs", SIM_REGISTRY, "src/app.rs"];
/// The list of simulated services, which hands them to the simulator: the one file outside a
/// service's `sim` that imports the simulator.
const SIM_REGISTRY: &str = "src/services/simulated.rs";
const CFG_TEST: [&str; 7] = ["#", "[", "cfg", "(", "test", ")", "]"];

/// A code token (an identifier, or punctuation with `::` as one) and its line.
type Tok = (String, usize);
/// A module path, `["services", "dcs"]`.
type Module = Vec<String>;

/// One source file, parsed.
struct File {
    /// Line count, for the size rule.
    lines: usize,
    /// Its module path (`["services", "dcs"]` for `src/services/dcs/mod.rs`).
    module: Module,
    /// Test-only: `tests.rs`, `…_tests.rs` or under a `tests/` folder.
    test: bool,
    /// Code tokens, `#[cfg(test)]` modules left out.
    toks: Vec<Tok>,
    /// Every `crate::`/`super::`/`self::` path and `mod x;`, made absolute, with its line.
    paths: Vec<(Module, usize)>,
}

/// The parsed tree and its file-to-file import edges.
struct Tree {
    /// Every file, by `src/…` path.
    files: BTreeMap<String, File>,
    /// Module path → the file that defines it (`main.rs` is its own crate: not here).
    modules: BTreeMap<Module, String>,
    /// (importer, imported) → the first line of the importer naming it. Test code has none.
    edges: BTreeMap<(String, String), usize>,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Where the comment, literal or lifetime starting at `i` ends, if one starts there.
fn literal_end(c: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let find = |from: usize, stop: &dyn Fn(char) -> bool| (from..c.len()).find(|&k| stop(c[k]));
    // The end of a string body from `k`; `raw` is the raw string's count of `#`.
    let body = |mut k: usize, raw: Option<usize>| loop {
        let n = raw.unwrap_or(0);
        match c.get(k) {
            None => return k,
            Some('\\') if raw.is_none() => k += 2,
            Some('"') if (1..=n).all(|h| at(k + h) == '#') => return k + 1 + n,
            _ => k += 1,
        }
    };
    match (at(i), at(i + 1)) {
        ('/', '/') => Some(find(i, &|x| x == '\n').unwrap_or(c.len())),
        ('/', '*') => {
            let (mut depth, mut k) = (0, i);
            while k < c.len() {
                match (at(k), at(k + 1)) {
                    ('/', '*') => (depth, k) = (depth + 1, k + 2),
                    ('*', '/') if depth == 1 => return Some(k + 2),
                    ('*', '/') => (depth, k) = (depth - 1, k + 2),
                    _ => k += 1,
                }
            }
            Some(k)
        }
        ('"', _) => Some(body(i + 1, None)),
        ('\'', '\\') => Some(find(i + 3, &|x| x == '\'').map_or(c.len(), |k| k + 1)),
        ('\'', _) if at(i + 2) == '\'' => Some(i + 3),
        ('\'', _) => Some(find(i + 1, &|x| !is_ident_char(x)).unwrap_or(c.len())),
        ('b', '\'') => literal_end(c, i + 1),
        ('b' | 'c', '"') => Some(body(i + 2, None)),
        ('r', '"' | '#') | ('b' | 'c', 'r') => {
            let q = if at(i) == 'r' { i + 1 } else { i + 2 };
            let n = (q..c.len()).take_while(|&k| c[k] == '#').count();
            (at(q + n) == '"').then(|| body(q + n + 1, Some(n)))
        }
        _ => None,
    }
}

/// The code tokens of `src`: comments, string and char literals, lifetimes and numbers dropped,
/// so nothing in them reads as a path.
fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < c.len() {
        let word = (i..c.len()).find(|&k| !is_ident_char(c[k]));
        let skip = literal_end(&c, i);
        let end = match (skip, word.unwrap_or(c.len())) {
            (Some(end), _) => end,
            (None, end) if end > i => end,
            _ if c[i..].starts_with(&[':', ':']) => i + 2,
            _ => i + 1,
        };
        if skip.is_none() && !c[i].is_whitespace() && !c[i].is_ascii_digit() {
            out.push((c[i..end].iter().collect(), line));
        }
        line += c[i..end].iter().filter(|&&x| x == '\n').count();
        i = end;
    }
    out
}

/// The token at `i`, or "" past the end.
fn tx(t: &[Tok], i: usize) -> &str {
    t.get(i).map_or("", |t| t.0.as_str())
}

/// Whether the tokens from `i` are `seq`.
fn seq(t: &[Tok], i: usize, seq: &[&str]) -> bool {
    seq.iter().enumerate().all(|(k, s)| tx(t, i + k) == *s)
}

/// Parses a path with `{…}` groups from `i`, pushing each leaf; returns the index after it.
fn use_tree(t: &[Tok], mut i: usize, mut p: Module, leaves: &mut Vec<Module>) -> usize {
    while is_ident(tx(t, i)) && (tx(t, i) != "self" || p.is_empty()) {
        p.push(tx(t, i).to_string());
        i += 1;
        if tx(t, i) != "::" {
            leaves.push(p);
            return i;
        }
        i += 1;
    }
    if tx(t, i) != "{" {
        leaves.push(p);
        return i + usize::from(matches!(tx(t, i), "*" | "self"));
    }
    i += 1;
    loop {
        match tx(t, i) {
            "}" => return i + 1,
            "" => return i,
            "," => i += 1,
            "as" => i += 2,
            _ => i = use_tree(t, i, p.clone(), leaves),
        }
    }
}

/// `leaf` made absolute from module `ctx`; `None` for paths not rooted in this crate.
fn absolute(ctx: &[String], leaf: &[String]) -> Option<Module> {
    let from_root = leaf.first()? == "crate";
    let keep = if from_root { 0 } else { ctx.len() };
    let rest = &leaf[usize::from(leaf[0] != "super")..];
    let ups = rest.iter().take_while(|s| *s == "super").count();
    let base = ctx.get(..keep.checked_sub(ups)?)?;
    let rooted = matches!(leaf[0].as_str(), "crate" | "self" | "super");
    rooted.then(|| [base, &rest[ups..]].concat())
}

/// `src/services/dcs/mod.rs` → `["services", "dcs"]`; `None` for `main.rs`, its own crate.
fn module_of(path: &str) -> Option<Module> {
    let rel = path.strip_prefix("src/")?.strip_suffix(".rs")?;
    let rel = rel.strip_suffix("/mod").unwrap_or(rel);
    let rel = if rel == "lib" { "" } else { rel };
    let segs = rel.split('/').filter(|s| !s.is_empty());
    (rel != "main").then(|| segs.map(String::from).collect())
}

/// Parses one `(path, text)`.
fn parse((path, text): &(String, String)) -> (String, File) {
    let (module, bin) = (module_of(path), module_of(path).is_none());
    let (module, all) = (module.unwrap_or_default(), lex(text));
    let (mut toks, mut paths, mut cfg_test) = (Vec::new(), Vec::new(), false);
    // Inline modules (`mod m { … }`) and the depth they opened at: their paths start there.
    let (mut inline, mut depth, mut opening) = (Vec::<(String, usize)>::new(), 0, None);
    let mut i = 0;
    while i < all.len() {
        let inner = inline.iter().map(|m| &m.0);
        let ctx: Module = module.iter().chain(inner).cloned().collect();
        let (w, line, name) = (tx(&all, i), all[i].1, tx(&all, i + 1).to_string());
        let mut end = i + 1;
        match w {
            "#" if seq(&all, i, &CFG_TEST) => cfg_test = true,
            // `#[cfg(test)] mod tests { … }` goes whole; `mod tests;` is its file, test-only.
            "mod" if cfg_test && tx(&all, i + 2) == "{" => {
                let mut d = 0;
                let close = (i + 2..all.len()).find(|&k| {
                    d += i32::from(all[k].0 == "{") - i32::from(all[k].0 == "}");
                    d == 0
                });
                (cfg_test, i) = (false, close.map_or(all.len(), |k| k + 1));
                continue;
            }
            "mod" if cfg_test => {}
            ";" => cfg_test = false,
            "{" => {
                (cfg_test, depth) = (false, depth + 1);
                inline.extend(opening.take().map(|m| (m, depth)));
            }
            "}" => {
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
                (cfg_test, depth) = (false, depth.saturating_sub(1));
            }
            "mod" if is_ident(&name) && tx(&all, i + 2) == ";" => {
                paths.push(([ctx, vec![name]].concat(), line));
            }
            "mod" if is_ident(&name) => opening = Some(name),
            "crate" | "super" | "self" if name == "::" && !bin && !cfg_test => {
                let visibility = i > 1 && seq(&all, i - 2, &["(", "in"]);
                let mut leaves = Vec::new();
                end = use_tree(&all, i, Vec::new(), &mut leaves);
                if (i == 0 || tx(&all, i - 1) != "::") && !visibility {
                    let abs = leaves.iter().filter_map(|l| absolute(&ctx, l));
                    paths.extend(abs.map(|p| (p, line)));
                }
            }
            _ => {}
        }
        toks.extend_from_slice(&all[i..end]);
        i = end;
    }
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    let test =
        name == "tests.rs" || name.ends_with("_tests.rs") || dirs.split('/').any(|d| d == "tests");
    let file = File {
        lines: text.lines().count(),
        module,
        test,
        toks,
        paths,
    };
    (path.clone(), file)
}

/// The file of the longest module prefix of `path`.
fn resolve<'a>(modules: &'a BTreeMap<Module, String>, path: &[String]) -> Option<&'a String> {
    (0..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
}

/// `dcs` for `src/services/dcs/mod.rs`.
fn service_folder(path: &str) -> Option<&str> {
    let svc = path.strip_prefix("src/services/")?;
    let svc = svc.strip_suffix("/mod.rs")?;
    (!svc.contains('/')).then_some(svc)
}

impl Tree {
    /// Parses `(path, text)` pairs, paths as `src/…`.
    fn new(sources: &[(String, String)]) -> Tree {
        let files: BTreeMap<String, File> = sources.iter().map(parse).collect();
        let rooted = files.iter().filter(|(p, _)| module_of(p).is_some());
        let modules = rooted.map(|(p, f)| (f.module.clone(), p.clone())).collect();
        let mut edges = BTreeMap::new();
        for (from, f) in files.iter().filter(|(_, f)| !f.test) {
            for (p, line) in &f.paths {
                let to = resolve(&modules, p).filter(|to| *to != from && !files[*to].test);
                if let Some(to) = to {
                    edges.entry((from.clone(), to.clone())).or_insert(*line);
                }
            }
        }
        Tree {
            files,
            modules,
            edges,
        }
    }

    /// Reads `src/**/*.rs` of this crate.
    fn from_disk() -> Tree {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (mut dirs, mut sources) = (vec![root.join("src")], Vec::new());
        while let Some(dir) = dirs.pop() {
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
            for p in entries.map(|e| e.unwrap_or_else(|e| panic!("{dir:?}: {e}")).path()) {
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
                    let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy();
                    sources.push((rel.replace('\\', "/"), text));
                }
            }
        }
        Tree::new(&sources)
    }

    /// Service folder → its type: `src/services/<svc>/mod.rs` saying `impl … Service for <Type>`.
    fn services(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let files = self.files.iter();
        for (svc, t) in files.filter_map(|(p, f)| Some((service_folder(p)?, &f.toks))) {
            let hit = |i: &usize| matches!(tx(t, *i), "impl" | "::");
            let hits = (0..t.len()).filter(|&i| seq(t, i + 1, &["Service", "for"]));
            for i in hits.filter(hit) {
                out.insert(svc.to_string(), tx(t, i + 3).to_string());
            }
        }
        out
    }
}

fn oversized(tree: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, f) in tree.files.iter().filter(|f| f.1.lines > MAX_LINES) {
        out.push(format!("{path}:{}: {} lines", MAX_LINES + 1, f.lines));
    }
    out
}

/// Which file imports which.
type Graph<'a> = BTreeMap<&'a str, Vec<&'a str>>;

/// Breadth-first from `start`: each file reached → the one it was reached from.
fn reach<'a>(next: &Graph<'a>, start: &'a str) -> BTreeMap<&'a str, &'a str> {
    let (mut came, mut queue) = (BTreeMap::new(), VecDeque::from([start]));
    while let Some(v) = queue.pop_front() {
        for &w in next.get(v).into_iter().flatten() {
            if !came.contains_key(w) {
                came.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    came
}

/// One shortest loop per tangle of files that reach each other: `a.rs:3 -> b.rs:9 -> a.rs`.
fn cycles(tree: &Tree) -> Vec<String> {
    let mut next = Graph::new();
    for (from, to) in tree.edges.keys() {
        next.entry(from.as_str()).or_default().push(to.as_str());
    }
    let starts = tree.files.keys().map(String::as_str);
    let reached: BTreeMap<&str, _> = starts.map(|f| (f, reach(&next, f))).collect();
    let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
    for (&start, came) in &reached {
        if seen.contains(start) || !came.contains_key(start) {
            continue;
        }
        let back = |f: &&str| reached[f].contains_key(start);
        let tangle: Vec<&str> = came.keys().copied().filter(back).collect();
        seen.extend(tangle.iter().copied());
        // The breadth-first tree from `start` holds a shortest way back to it.
        let (mut ring, mut at) = (vec![start], start);
        while let Some(&prev) = came.get(at).filter(|&&p| p != start) {
            ring.insert(1, prev);
            at = prev;
        }
        let mut hops = String::new();
        for (a, b) in ring.iter().zip(ring.iter().cycle().skip(1)) {
            hops += &format!("{a}:{} -> ", tree.edges[&(a.to_string(), b.to_string())]);
        }
        let (n, names) = (tangle.len(), tangle.join(", "));
        out.push(format!("{hops}{start}   ({n} files tangled: {names})"));
    }
    out
}

/// Where a file sits. A top-level module missing from [`LAYERS`] sits at the bottom.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// `app.rs`, `main.rs`, `lib.rs`.
    Wiring,
    /// In [`LAYERS`], 0 the top.
    Layer(usize),
    /// `src/sim/`.
    Sim,
}

fn top_module(path: &str) -> &str {
    let rel = path.strip_prefix("src/").unwrap_or(path);
    rel.split(['/', '.']).next().unwrap_or(rel)
}

fn place(path: &str) -> Place {
    let top = top_module(path);
    let mut layers = LAYERS.split(" > ");
    match layers.position(|l| l.split(' ').any(|m| m == top)) {
        _ if WIRING.contains(&top) => Place::Wiring,
        _ if top == "sim" => Place::Sim,
        n => Place::Layer(n.unwrap_or(LAYERS.split(" > ").count() - 1)),
    }
}

fn layer_violations(tree: &Tree) -> Vec<String> {
    let (mut out, name) = (Vec::new(), top_module);
    let transport = LAYERS.split(" > ").position(|l| l == "transport");
    for ((from, to), line) in &tree.edges {
        let service_sim = from == SIM_REGISTRY
            || from.starts_with("src/services/")
                && matches!(from.split('/').nth(3), Some("sim.rs" | "sim"));
        let why = match (place(from), place(to)) {
            (Place::Wiring, _) => continue,
            (_, Place::Wiring) => "nothing imports the wiring",
            (Place::Sim, Place::Sim) => continue,
            (Place::Sim, Place::Layer(n)) if Some(n) >= transport => continue,
            (Place::Sim, _) => "sim/ may import sim/, transport, the bottom (services hand it theirs)",
            (_, Place::Sim) if service_sim => continue,
            (_, Place::Sim) => {
                "only a service's sim.rs or sim/, and src/services/simulated.rs, import the simulator"
            }
            (Place::Layer(a), Place::Layer(b)) if b < a => "a lower layer imports a higher one",
            _ => continue,
        };
        let (a, b) = (name(from), name(to));
        out.push(format!("{from}:{line}: {a} imports {b} ({to}): {why}"));
    }
    out
}

/// Each line where a file names a service outside its folder: a path resolving into the folder,
/// `svc::…`, `services::svc` (other crates' too: `huaweicloud_exporter::services::dcs`), its type.
fn service_namings(tree: &Tree) -> Vec<String> {
    let (services, mut out) = (tree.services(), Vec::new());
    for (path, f) in &tree.files {
        let service_dir = |h: &&str| path.starts_with("src/services/") && services.contains_key(*h);
        let home = path.split('/').nth(2).filter(service_dir);
        for (svc, ty) in services.iter().filter(|s| home != Some(s.0.as_str())) {
            let why = match home {
                Some(other) => format!("service `{other}` names service `{svc}`"),
                None if NAMERS.contains(&path.as_str()) => continue,
                None => format!("names service `{svc}` outside its folder"),
            };
            let folder = format!("src/services/{svc}/");
            let hit =
                |p: &Module| resolve(&tree.modules, p).is_some_and(|t| t.starts_with(&folder));
            let mut lines: BTreeSet<_> =
                f.paths.iter().filter(|p| hit(&p.0)).map(|p| p.1).collect();
            let t = &f.toks;
            for (i, (w, line)) in t.iter().enumerate() {
                let relative = tx(t, i + 1) == "::" && (i == 0 || tx(t, i - 1) != "::");
                let in_services = i > 1 && seq(t, i - 2, &["services", "::"]);
                if (w == svc && (relative || in_services)) || w == ty {
                    lines.insert(*line);
                }
            }
            out.extend(lines.iter().map(|l| format!("{path}:{l}: {why}")));
        }
    }
    out
}

/// Runs `check` on the real tree; panics with the rule, every offender and the fix.
fn report(check: fn(&Tree) -> Vec<String>, rule: &str, fix: &str) {
    let offenders = check(&Tree::from_disk()).join("\n  ");
    assert!(offenders.is_empty(), "{rule}\n  {offenders}\nFix: {fix}");
}

#[test]
fn no_file_over_600_lines() {
    let rule = "Files in src/ over 600 lines (issue 12: a newcomer reads a file whole):";
    let fix = "split the file by concern, or move its `mod tests` to a sibling file declared \
               `#[cfg(test)] mod tests;` (foo/tests.rs).";
    report(oversized, rule, fix);
}

#[test]
fn no_import_cycle_between_files() {
    let rule = "Import cycles between files in src/ (file:line of each import on the loop):";
    let fix = "move what both need into a file that imports neither; a child file imports from \
               the defining file (`crate::transport::error::ApiError`), not through its mod.rs.";
    report(cycles, rule, fix);
}

#[test]
fn layers_run_one_way() {
    let rule = "Imports against the layers (server -> scrape -> services -> inventory -> \
                transport -> the bottom; app/main/lib wire on top; the simulator apart):";
    let fix = "move the item down to the layer that needs it, or pass it in from above (a \
               parameter, a trait); a new top-level module gets its place in LAYERS here.";
    report(layer_violations, rule, fix);
}

#[test]
fn services_are_named_only_by_the_registries() {
    let rule = "A service named outside its folder or by another service (DESIGN.md \
                \"Architecture\"; only src/services/mod.rs, src/services/simulated.rs, src/app.rs may):";
    let fix = "go through the registry (`services::SERVICES`, the `Service` trait, \
               `services::SIMULATED`), or move the code into the service's own folder.";
    report(service_namings, rule, fix);
}

/// A tree from `@ path` header lines, each followed by that file's text.
fn literal(text: &str) -> Tree {
    let files = text.split("\n@ ").skip(1);
    let files = files.map(|f| f.split_once('\n').unwrap_or((f, "")));
    let files: Vec<_> = files.map(|(p, t)| (p.to_string(), t.to_string())).collect();
    Tree::new(&files)
}

/// Three cycles, three layer breaches and four namings of a service, among imports in
/// comments, literals, `#[cfg(test)]` code, test files and inline modules that count for nothing.
const BAD: &str = r##"
@ src/lib.rs
pub mod scrape; pub mod transport; pub mod config; pub mod sim; pub mod services;
@ src/scrape.rs
use crate::services::{foo::api, Service};
fn f() -> Bar { todo!() }
@ src/transport/mod.rs
mod client;
fn f() -> crate::scrape::S { todo!() }
@ src/transport/client.rs
fn f() -> super::T { todo!() }
// crate::scrape::S
/* crate::sim::X /* nested */ crate::scrape::S */ const S: &str = "crate::scrape::S \" super";
const R: &str = r#"crate::scrape::S " quoted"#; const C: char = '"'; fn g<'a>(_: &'a u8) {}
const D: u8 = b'\''; const E: &[u8] = br"crate::sim::X";
@ src/config/mod.rs
pub mod a; pub mod b; #[cfg(test)] mod tests;
@ src/config/tests.rs
use crate::scrape::S;
@ src/config/a.rs
use crate::config::{b::{self, B as X}};
#[cfg(test)] #[allow(unused)] mod tests { use crate::scrape::S; }
@ src/config/b.rs
mod inner { use super::B; }
fn g(_: super::a::A) {}
@ src/sim/mod.rs
pub mod routes;
@ src/sim/routes.rs
use crate::services::bar::Bar;
@ src/services/mod.rs
pub mod foo; pub mod bar; use crate::sim::X;
@ src/services/foo/mod.rs
impl Service for Foo {}
@ src/services/bar/mod.rs
impl super::Service for Bar {}
use super::foo::api;
@ src/app.rs
use crate::services::foo::api::call;
"##;

fn assert_has(found: &[String], want: &[&str]) {
    let hit = |w: &&str| found.iter().any(|f| f.starts_with(w));
    let ok = found.len() == want.len() && want.iter().all(hit);
    assert!(ok, "want {want:#?}\nfound {found:#?}");
}

#[test]
fn the_checker_finds_what_it_guards() {
    let bad = literal(BAD);
    let cycles_found = [
        "src/config/a.rs:1 -> src/config/b.rs:2 -> src/config/a.rs",
        "src/transport/client.rs:1 -> src/transport/mod.rs:1 -> src/transport/client.rs",
        "src/services/bar/mod.rs:1 -> src/services/mod.rs:1 -> src/services/bar/mod.rs",
    ];
    assert_has(&cycles(&bad), &cycles_found);
    let layers = [
        "src/transport/mod.rs:2: transport imports scrape (src/scrape.rs): a lower layer",
        "src/sim/routes.rs:1: sim imports services (src/services/bar/mod.rs): sim/ may",
        "src/services/mod.rs:1: services imports sim (src/sim/mod.rs): only a service's sim",
    ];
    assert_has(&layer_violations(&bad), &layers);
    let services = format!("{:?}", bad.services());
    assert_eq!(services, r#"{"bar": "Bar", "foo": "Foo"}"#);
    let namings = [
        "src/scrape.rs:1: names service `foo`",
        "src/scrape.rs:2: names service `bar`",
        "src/sim/routes.rs:1: names service `bar`",
        "src/services/bar/mod.rs:2: service `bar` names service `foo`",
    ];
    assert_has(&service_namings(&bad), &namings);

    let clean = literal(
        "\n@ src/lib.rs\npub mod a; pub mod b;\n@ src/a.rs\nuse crate::b::B;\n\
         @ src/b.rs\npub struct B; // crate::a::A",
    );
    assert_has(&cycles(&clean), &[]);
    assert_eq!(clean.edges.len(), 3);

    let tree = Tree::from_disk();
    let (files, edges) = (tree.files.len(), tree.edges.len());
    assert!(files > 50 && edges > 100, "{files} files, {edges} edges");
    let tests = tree.files.values().filter(|f| f.test).count();
    assert!(tests > 0 && !tree.services().is_empty(), "{tests} tests");
}
