//! Config loading: a table of invalid files, each with its exact message, and the good paths.

use std::path::Path;

use huaweicloud_exporter::config::{load_str, AuthConfig};
use secrecy::ExposeSecret;

fn env(name: &str) -> Option<String> {
    match name {
        "HWC_PASSWORD" => Some("s3cr3t-pa55".into()),
        "HWC_AK" => Some("AKEXAMPLE".into()),
        "HWC_SK" => Some("sk-value-secret".into()),
        _ => None,
    }
}

fn load(text: &str) -> Result<huaweicloud_exporter::config::Config, String> {
    load_str(text, "config.yaml", Path::new("/nonexistent"), &env).map_err(|e| e.to_string())
}

const HEAD: &str = "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcdef\n";
const PW: &str = "    auth: { password: { domain: acme, user: mon, password: ${HWC_PASSWORD} } }\n";

#[test]
fn invalid_configs_are_refused_with_file_field_and_fix() {
    let long = "a".repeat(40);
    let many = (0..150)
        .map(|i| format!("p{i:05}"))
        .collect::<Vec<_>>()
        .join(", ");
    let cases: Vec<(String, String)> = vec![
        ("".into(), "config.yaml: the file is empty; it needs at least a `clouds:` list (see the annotated config.yaml)".into()),
        ("clouds: [".into(), "config.yaml: not valid YAML: did not find expected node content at line 2 column 1, while parsing a flow node; fix the syntax at that position".into()),
        ("clouds: []\nscrape_interval: 5s\n".into(), "config.yaml: scrape_interval: unknown field `scrape_interval`, expected one of `clouds`, `timeout`, `max_concurrency`, `probes`, `shard`; remove it or fix its spelling".into()),
        ("clouds: []\n".into(), "config.yaml: clouds: is empty; configure at least one cloud".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n    colour: blue\n"), "config.yaml: clouds[0].colour: unknown field `colour`, expected one of `name`, `region`, `project_id`, `auth`, `endpoints`, `dcs`, `koophone`, `ddm`; remove it or fix its spelling".into()),
        (format!("{HEAD}    dcs: {{}}\n"), "config.yaml: clouds[0]: missing field `auth`; add it (see the annotated config.yaml)".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a44uhlf7, efjy72gs, abc, {long}] }}\n"), format!("config.yaml: clouds[0].koophone.instance_ids[3]: \"{long}\" has 40 characters; KooPhone allows at most 32")),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [\"a b\"] }}\n"), "config.yaml: clouds[0].koophone.instance_ids[0]: \"a b\" contains ' '; instance ids are letters, digits, `-` and `_`".into()),
        (format!("{HEAD}{PW}    koophone: {{}}\n"), "config.yaml: clouds[0].koophone: names no phones; add `instance_ids: [...]` or `instance_ids_file: phones.txt`".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids_file: phones.txt }}\n"), "config.yaml: clouds[0].koophone.instance_ids_file: cannot read /nonexistent/phones.txt: No such file or directory (os error 2); fix the file (one id per line, # for comments)".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a], status_names: {{ 9: Hibernating }} }}\n"), "config.yaml: clouds[0].koophone.status_names.9: \"Hibernating\" is not a usable label value; use lower_snake_case like backup_exception".into()),
        (format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: ${{HWC_NOPE}} }} }}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth.password.password: environment variable HWC_NOPE is not set; export it before starting, or write the value (or a *_file path) instead".into()),
        (format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon }} }}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth.password: missing password; set password (e.g. ${VAR}) or password_file".into()),
        (format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: x, password_file: /p }} }}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth.password: both password and password_file are set; keep one".into()),
        (format!("{HEAD}    auth: {{ token: {{ value: abc }}, aksk: {{ access_key: a, secret_key: b }} }}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth: has 2 methods; give exactly one of `password`, `token` or `aksk`".into()),
        (format!("{HEAD}    auth: {{}}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth: has 0 methods; give exactly one of `password`, `token` or `aksk`".into()),
        (format!("{HEAD}    auth: {{ aksk: {{ access_key: ${{HWC_AK}}, secret_key: ${{HWC_SK}} }} }}\n    koophone: {{ instance_ids: [a44uhlf7] }}\n"), "config.yaml: clouds[0].koophone: KooPhone accepts only IAM tokens; give this cloud `password` or `token` auth, or move the phones to a cloud that has it".into()),
        (format!("{HEAD}{PW}"), "config.yaml: clouds[0]: collects nothing; add a `dcs: {}`, `koophone:` or `ddm:` section".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n    endpoints: {{ dcs: ftp://x }}\n"), "config.yaml: clouds[0].endpoints.dcs: \"ftp://x\" is not an http(s) URL; give a base URL like https://dcs.ap-southeast-1.myhuaweicloud.com".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\ntimeout: soon\n"), "config.yaml: timeout: \"soon\" is not a duration (expected number at 0); write it like 10s, 5m or 1h30m".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\nmax_concurrency: 0\n"), "config.yaml: max_concurrency: is 0; it must be between 1 and 1024 (default 16)".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n  - name: prod\n    region: eu-west-101\n    project_id: abc\n{PW}    dcs: {{}}\n"), "config.yaml: clouds[1].name: \"prod\" is used by an earlier cloud; names must be unique".into()),
        (format!("{HEAD}{PW}    dcs: {{ enabled: maybe }}\n"), "config.yaml: clouds[0].dcs.enabled: invalid type: string \"maybe\", expected a boolean".into()),
        (format!("{HEAD}{PW}    ddm: {{ instance_ids: [] }}\n"), "config.yaml: clouds[0].ddm.instance_ids: is empty; list the DDM instance ids to watch".into()),
        (format!("{HEAD}    region: x\n{PW}    dcs: {{}}\n"), "config.yaml: not valid YAML: clouds[0]: duplicate entry with key \"region\" at line 2 column 5; fix the syntax at that position".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a] }}\nprobes:\n  boot: {{ cloud: prod, command: \"reboot; rm -rf /\" }}\n"), "config.yaml: probes.boot.command: contains ';'; the API allows only letters, digits, spaces and `_ . / : -`".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a] }}\nprobes:\n  boot: {{ cloud: nope, command: getprop x }}\n"), "config.yaml: probes.boot.cloud: \"nope\" is not a configured cloud; use one of the names under clouds:".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a] }}\nprobes:\n  boot: {{ cloud: prod, command: getprop x, max_commands_per_minute: 0 }}\n"), "config.yaml: probes.boot.max_commands_per_minute: must be at least 1; the default is 60".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [{phones}] }}\nprobes:\n  boot: {{ cloud: prod, command: getprop x, max_commands_per_minute: 1, groups: {{ all: [{phones}] }} }}\n", phones = many), "config.yaml: probes.boot.max_commands_per_minute: is 1, but group \"all\" has 150 phones, 2 calls per probe; raise it to at least 2".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\nshard: {{ index: 3, total: 3 }}\n"), "config.yaml: shard: index 3 of total 3 is impossible; index counts from 0 and must be below total".into()),
    ];
    let mut failures = Vec::new();
    for (i, (text, want)) in cases.iter().enumerate() {
        match load(text) {
            Ok(_) => failures.push(format!("case {i}: accepted, wanted error {want:?}")),
            Err(got) if &got != want => {
                failures.push(format!("case {i}:\n  got  {got:?}\n  want {want:?}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secrets_never_appear_in_errors() {
    // A password written where a map belongs: serde would echo the string.
    let text = format!("{HEAD}    auth: {{ password: ${{HWC_PASSWORD}} }}\n    dcs: {{}}\n");
    let err = load(&text).unwrap_err();
    assert!(!err.contains("s3cr3t-pa55"), "{err}");
    assert!(
        err.starts_with("config.yaml: clouds[0].auth.password: invalid type"),
        "{err}"
    );
}

#[test]
fn a_good_config_gets_defaults_and_secrets_from_env() {
    let cfg = load(&format!("{HEAD}{PW}    dcs: {{}}\n    koophone: {{ instance_ids: [a44uhlf7, efjy72gs, a44uhlf7] }}\n")).unwrap();
    assert_eq!(cfg.timeout, std::time::Duration::from_secs(10));
    assert_eq!(cfg.max_concurrency, 16);
    let c = &cfg.clouds[0];
    assert_eq!(
        c.endpoints.dcs,
        "https://dcs.ap-southeast-1.myhuaweicloud.com"
    );
    assert_eq!(c.endpoints.koophone, "https://koophone.myhuaweicloud.com");
    assert_eq!(
        c.endpoints.iam,
        "https://iam.ap-southeast-1.myhuaweicloud.com"
    );
    assert!(c.dcs.as_ref().unwrap().include_failure);
    assert_eq!(
        c.koophone.as_ref().unwrap().instance_ids,
        vec!["a44uhlf7", "efjy72gs"]
    );
    assert!(c.ddm.is_none());
    match &c.auth {
        AuthConfig::Password { password, .. } => {
            assert_eq!(password.expose_secret(), "s3cr3t-pa55")
        }
        other => panic!("wrong auth {}", other.method()),
    }
    assert!(
        !format!("{cfg:?}").contains("s3cr3t-pa55"),
        "Debug must not show the password"
    );
}

#[test]
fn the_annotated_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let base = path.parent().unwrap();
    let cfg = load_str(&text, "config.yaml", base, &|name| {
        Some(format!("value-of-{name}"))
    })
    .unwrap();
    assert!(!cfg.clouds.is_empty());
}

#[test]
fn secret_files_and_dollar_escapes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "from-file\n").unwrap();
    let text = format!("{HEAD}    auth: {{ password: {{ domain: \"a$$b\", user: mon, password_file: pw }} }}\n    dcs: {{}}\n");
    let cfg = load_str(&text, "config.yaml", dir.path(), &env).unwrap();
    match &cfg.clouds[0].auth {
        AuthConfig::Password {
            domain, password, ..
        } => {
            assert_eq!(domain, "a$b");
            assert_eq!(password.expose_secret(), "from-file");
        }
        other => panic!("wrong auth {}", other.method()),
    }
}
