//! Config loading: a table of invalid files, each with its exact message, and the good paths.

use std::path::Path;

use huaweicloud_exporter::config::AuthConfig;
use huaweicloud_exporter::services::dcs::config::DcsConfig;
use huaweicloud_exporter::services::koophone::config::KoophoneConfig;
use huaweicloud_exporter::services::{load_str, SERVICES};
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

/// The unknown-field error of a cloud's `field`: the fields it lists are the cloud's own and one
/// section per registered service, in the registry's order.
fn unknown_cloud_field(field: &str) -> String {
    let own = [
        "name",
        "region",
        "project_id",
        "auth",
        "endpoints",
        "allow_insecure_endpoints",
        "tls",
    ];
    let services = SERVICES.iter().map(|s| s.identity().key);
    let fields: Vec<String> = own
        .into_iter()
        .chain(services)
        .map(|f| format!("`{f}`"))
        .collect();
    format!(
        "config.yaml: clouds[0].{field}: unknown field `{field}`, expected one of {}; remove it or fix its spelling",
        fields.join(", ")
    )
}

/// Every registered service's way to enable it, `a, b or c`, for the "collects nothing" hint.
fn service_examples() -> String {
    let examples: Vec<&str> = SERVICES.iter().map(|s| s.identity().example).collect();
    match examples.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

const HEAD: &str = "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcdef\n";
/// A cloud's first lines without its project id.
const CLOUD: &str = "clouds:\n  - name: prod\n    region: ap-southeast-1\n";
const PROJECT_FIX: &str = "a project id is 32 lowercase hexadecimal characters; copy it from My Credentials > API Credentials > Projects";
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
        ("clouds: []\nscrape_interval: 5s\n".into(), "config.yaml: scrape_interval: unknown field `scrape_interval`, expected one of `clouds`, `timeout`, `max_concurrency`, `probes`, `shard`, `tls`; remove it or fix its spelling\nconfig.yaml: clouds: is empty; configure at least one cloud".into()),
        ("clouds: []\n".into(), "config.yaml: clouds: is empty; configure at least one cloud".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n    colour: blue\n"), unknown_cloud_field("colour")),
        (format!("{HEAD}    dcs: {{}}\n"), "config.yaml: clouds[0]: missing field `auth`; add it (see the annotated config.yaml)".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a44uhlf7, efjy72gs, abc, {long}] }}\n"), format!("config.yaml: clouds[0].koophone.instance_ids[3]: \"{long}\" has 40 characters; KooPhone allows at most 32")),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [\"a b\"] }}\n"), "config.yaml: clouds[0].koophone.instance_ids[0]: \"a b\" contains ' '; instance ids are letters, digits, `-` and `_`".into()),
        // `koophone: {}` discovers every phone (valid); discovery settings are checked.
        (format!("{HEAD}{PW}    koophone: {{ discovery: {{ refresh_interval: 500ms }} }}\n"), "config.yaml: clouds[0].koophone.discovery.refresh_interval: must be at least 1s (5m is a sensible production value)".into()),
        (format!("{HEAD}{PW}    koophone: {{ discovery: {{ name_regex: \"shop-(\" }} }}\n"), "config.yaml: clouds[0].koophone.discovery.name_regex: is not a valid regular expression (error: unclosed group)".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a], discovery: {{}} }}\n"), "config.yaml: clouds[0].koophone.discovery: is set, but phones are listed (instance_ids or instance_ids_file), so nothing is discovered; remove one of them".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids_file: phones.txt }}\n"), "config.yaml: clouds[0].koophone.instance_ids_file: cannot read /nonexistent/phones.txt: No such file or directory (os error 2); fix the file (one id per line, # for comments)".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a], status_names: {{ 9: Hibernating }} }}\n"), "config.yaml: clouds[0].koophone.status_names.9: \"Hibernating\" is not a usable label value; use lower_snake_case like backup_exception".into()),
        (format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: ${{HWC_NOPE}} }} }}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth.password.password: environment variable HWC_NOPE is not set; export it before starting, or write the value (or a *_file path) instead".into()),
        (format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon }} }}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth.password: missing password; set password (e.g. ${VAR}) or password_file".into()),
        (format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: x, password_file: /p }} }}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth.password: both password and password_file are set; keep one".into()),
        (format!("{HEAD}    auth: {{ token: {{ value: abc }}, aksk: {{ access_key: a, secret_key: b }} }}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth: has 2 methods; give exactly one of `password`, `token` or `aksk`".into()),
        (format!("{HEAD}    auth: {{}}\n    dcs: {{}}\n"), "config.yaml: clouds[0].auth: has 0 methods; give exactly one of `password`, `token` or `aksk`".into()),
        (format!("{HEAD}    auth: {{ aksk: {{ access_key: ${{HWC_AK}}, secret_key: ${{HWC_SK}} }} }}\n    koophone: {{ instance_ids: [a44uhlf7] }}\n"), "config.yaml: clouds[0].koophone: KooPhone accepts only IAM tokens; give this cloud `password` or `token` auth, or move the phones to a cloud that has it".into()),
        (format!("{HEAD}{PW}"), format!("config.yaml: clouds[0]: collects nothing; add a {} section", service_examples())),
        (format!("{HEAD}{PW}    dcs: {{}}\n    endpoints: {{ dcs: ftp://x }}\n"), "config.yaml: clouds[0].endpoints.dcs: \"ftp://x\" is not an http(s) URL; give a base URL like https://dcs.ap-southeast-1.myhuaweicloud.com".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\ntimeout: soon\n"), "config.yaml: timeout: \"soon\" is not a duration (expected number at 0); write it like 10s, 5m or 1h30m".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\nmax_concurrency: 0\n"), "config.yaml: max_concurrency: is 0; it must be between 1 and 1024 (default 16)".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n  - name: prod\n    region: eu-west-101\n    project_id: 89abcdef0123456789abcdef01234567\n{PW}    dcs: {{}}\n"), "config.yaml: clouds[1].name: \"prod\" is used by an earlier cloud; names must be unique".into()),
        (format!("{HEAD}{PW}    dcs: {{ enabled: maybe }}\n"), "config.yaml: clouds[0].dcs.enabled: invalid type: string \"maybe\", expected a boolean".into()),
        (format!("{HEAD}{PW}    ddm: {{ instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], discovery: {{}} }}\n"), "config.yaml: clouds[0].ddm.discovery: is set, but instances are listed (instance_ids), so nothing is discovered; remove one of them".into()),
        (format!("{HEAD}{PW}    ddm: {{ discovery: {{ refresh_interval: 500ms }} }}\n"), "config.yaml: clouds[0].ddm.discovery.refresh_interval: must be at least 1s (5m is a sensible production value)".into()),
        (format!("{HEAD}{PW}    ddm: {{ discovery: {{ name_regex: \"(\" }} }}\n"), "config.yaml: clouds[0].ddm.discovery.name_regex: is not a valid regular expression (error: unclosed group)".into()),
        (format!("{HEAD}    region: x\n{PW}    dcs: {{}}\n"), "config.yaml: not valid YAML: clouds[0]: duplicate entry with key \"region\" at line 2 column 5; fix the syntax at that position".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a] }}\nprobes:\n  boot: {{ cloud: prod, command: \"reboot; rm -rf /\" }}\n"), "config.yaml: probes.boot.command: contains ';'; the API allows only letters, digits, spaces and `_ . / : -`".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a] }}\nprobes:\n  boot: {{ cloud: nope, command: getprop x }}\n"), "config.yaml: probes.boot.cloud: \"nope\" is not a configured cloud; use one of the names under clouds:".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [a] }}\nprobes:\n  boot: {{ cloud: prod, command: getprop x, max_commands_per_minute: 0 }}\n"), "config.yaml: probes.boot.max_commands_per_minute: must be at least 1; the default is 60".into()),
        (format!("{HEAD}{PW}    koophone: {{ instance_ids: [{phones}] }}\nprobes:\n  boot: {{ cloud: prod, command: getprop x, max_commands_per_minute: 1, groups: {{ all: [{phones}] }} }}\n", phones = many), "config.yaml: probes.boot.max_commands_per_minute: is 1, but group \"all\" has 150 phones, 2 calls per probe; raise it to at least 2".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\nshard: {{ index: 3, total: 3 }}\n"), "config.yaml: shard: index 3 of total 3 is impossible; index counts from 0 and must be below total".into()),
        // Project ids: exactly 32 lowercase hexadecimal characters, digits quoted.
        (format!("{CLOUD}    project_id: 0123456789abcdef0123456789abcde\n{PW}    dcs: {{}}\n"), format!("config.yaml: clouds[0].project_id: \"0123456789abcdef0123456789abcde\" has 31 characters; {PROJECT_FIX}")),
        (format!("{CLOUD}    project_id: 0123456789ABCDEF0123456789ABCDEF\n{PW}    dcs: {{}}\n"), format!("config.yaml: clouds[0].project_id: \"0123456789ABCDEF0123456789ABCDEF\" contains 'A'; {PROJECT_FIX}")),
        (format!("{CLOUD}    project_id: 12345678901234567890123456789012\n{PW}    dcs: {{}}\n"), "config.yaml: clouds[0].project_id: 12345678901234567890123456789012 is an unquoted number, too large for YAML's integers; quote it (\"12345678901234567890123456789012\") so that it is read as text".into()),
        (format!("{CLOUD}    project_id: 1234567890123456\n{PW}    dcs: {{}}\n"), "config.yaml: clouds[0].project_id: invalid type: integer `1234567890123456`, expected a string; quote it, since YAML reads unquoted digits, true/false and ~ as other types".into()),
        // Endpoints: HTTPS base URLs, nothing more.
        (format!("{HEAD}{PW}    dcs: {{}}\n    endpoints: {{ dcs: http://dcs.example.com }}\n"), "config.yaml: clouds[0].endpoints.dcs: \"http://dcs.example.com\" is plain HTTP, so the IAM password, tokens and signatures would travel in clear; use https://, or set `allow_insecure_endpoints: true` on this cloud (clouds[0]) if the link is protected otherwise".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n    endpoints: {{ dcs: \"https://dcs.example.com/v2/\" }}\n"), "config.yaml: clouds[0].endpoints.dcs: \"https://dcs.example.com/v2/\" has a path (\"/v2\"); give the base URL alone, \"https://dcs.example.com\": the exporter adds each API's path".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n    endpoints: {{ iam: \"https://mon:hunter2@iam.example.com\" }}\n"), "config.yaml: clouds[0].endpoints.iam: holds a user name or password (`user:password@`, not shown); remove it and give the base URL alone, like https://iam.ap-southeast-1.myhuaweicloud.com: credentials go under auth:".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n    endpoints: {{ dcs: \" https://dcs.example.com \" }}\n"), "config.yaml: clouds[0].endpoints.dcs: \" https://dcs.example.com \" has spaces around it; write it without them: \"https://dcs.example.com\"".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n    endpoints: {{ dcs: \"https://dcs.example.com?x=1\" }}\n"), "config.yaml: clouds[0].endpoints.dcs: \"https://dcs.example.com?x=1\" has a query or fragment; give a base URL like https://dcs.ap-southeast-1.myhuaweicloud.com".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\n    allow_insecure_endpoints: maybe\n"), "config.yaml: clouds[0].allow_insecure_endpoints: invalid type: string \"maybe\", expected a boolean".into()),
        // Upstream TLS.
        (format!("{HEAD}{PW}    dcs: {{}}\n    tls: {{ ca_file: ca.pem }}\n"), "config.yaml: clouds[0].tls.ca_file: cannot read /nonexistent/ca.pem: No such file or directory (os error 2); check the path and its permissions".into()),
        (format!("{HEAD}{PW}    dcs: {{}}\ntls: {{ ca_fil: ca.pem }}\n"), "config.yaml: tls.ca_fil: unknown field `ca_fil`, expected `ca_file` or `insecure_skip_verify`; remove it or fix its spelling".into()),
        // Every unknown key of a section, then its first other error.
        (format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: x, colour: a, flavour: b }} }}\n    dcs: {{ shade: c, enabled: maybe }}\n"), "config.yaml: clouds[0].auth.password.colour: unknown field `colour`, expected one of `domain`, `user`, `password`, `password_file`; remove it or fix its spelling\nconfig.yaml: clouds[0].auth.password.flavour: unknown field `flavour`, expected one of `domain`, `user`, `password`, `password_file`; remove it or fix its spelling\nconfig.yaml: clouds[0].dcs.shade: unknown field `shade`, expected one of `enabled`, `include_failure`, `instances`, `max_series`; remove it or fix its spelling\nconfig.yaml: clouds[0].dcs.enabled: invalid type: string \"maybe\", expected a boolean".into()),
        // Missing fields are each named.
        ("clouds:\n  - region: ap-southeast-1\n    dcs: {}\n".into(), "config.yaml: clouds[0]: missing field `name`; add it (see the annotated config.yaml)\nconfig.yaml: clouds[0]: missing field `project_id`; add it (see the annotated config.yaml)\nconfig.yaml: clouds[0]: missing field `auth`; add it (see the annotated config.yaml)".into()),
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
    // A password written where its section belongs: serde would echo the string.
    let text = format!("{HEAD}    auth: {{ password: ${{HWC_PASSWORD}} }}\n    dcs: {{}}\n");
    let err = load(&text).unwrap_err();
    assert!(!err.contains("s3cr3t-pa55"), "{err}");
    assert_eq!(
        err,
        "config.yaml: clouds[0].auth.password: is text, not a mapping (its value is not shown: this section holds secrets); write this section as a mapping of its fields (see the annotated config.yaml)"
    );
}

#[test]
fn a_good_config_gets_defaults_and_secrets_from_env() {
    let cfg = load(&format!("{HEAD}{PW}    dcs: {{}}\n    koophone: {{ instance_ids: [a44uhlf7, efjy72gs, a44uhlf7] }}\n")).unwrap();
    assert_eq!(cfg.timeout, std::time::Duration::from_secs(10));
    assert_eq!(cfg.max_concurrency, 16);
    let c = &cfg.clouds[0];
    assert_eq!(
        c.endpoints.get("dcs"),
        "https://dcs.ap-southeast-1.myhuaweicloud.com"
    );
    assert_eq!(
        c.endpoints.get("koophone"),
        "https://koophone.myhuaweicloud.com"
    );
    assert_eq!(
        c.endpoints.iam,
        "https://iam.ap-southeast-1.myhuaweicloud.com"
    );
    assert!(c.sections.get::<DcsConfig>("dcs").unwrap().include_failure);
    assert_eq!(
        c.sections
            .get::<KoophoneConfig>("koophone")
            .unwrap()
            .instance_ids,
        vec!["a44uhlf7", "efjy72gs"]
    );
    assert!(c.sections.raw("ddm").is_none());
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

// ---------------------------------------------------------------------------------------------
// Secrets that are not text: refused by their type, never quoted, at load and on reload.

/// The digits of a numeric secret: none of them may appear in any message.
const DIGITS: &str = "86753091234567";

/// Each YAML type a secret may be written as by mistake, and what the error says it is.
fn secret_forms() -> Vec<(String, &'static str)> {
    vec![
        (DIGITS.to_string(), "a number"),
        (format!("-{DIGITS}"), "a number"),
        (format!("{DIGITS}.5"), "a number"),
        ("8.6753091234567e13".to_string(), "a number"),
        (format!("0x{DIGITS}"), "a number"),
        (format!("{DIGITS}{DIGITS}{DIGITS}"), "a number"),
        ("true".to_string(), "a boolean"),
        (format!("[{DIGITS}]"), "a list"),
        (format!("{{ pin: {DIGITS} }}"), "a mapping"),
        (format!("!pin {DIGITS}"), "a tagged value (`!tag …`)"),
    ]
}

const QUOTE_IT: &str = "quote it, since YAML reads unquoted digits, true/false and ~ as other types and can change them (leading zeros, exponents), or better take it from ${VAR} or the *_file form of this key";
const ONE_STRING: &str =
    "write the secret as one quoted string, or better take it from ${VAR} or the *_file form of this key";

/// The secret fields, as a config with `{}` where the value goes, and the field's path.
const SECRET_FIELDS: &[(&str, &str)] = &[
    (
        "    auth: { password: { domain: acme, user: mon, password: {} } }\n    dcs: {}\n",
        "clouds[0].auth.password.password",
    ),
    (
        "    auth: { token: { value: {} } }\n    dcs: {}\n",
        "clouds[0].auth.token.value",
    ),
    (
        "    auth: { aksk: { access_key: AKEXAMPLE, secret_key: {} } }\n    dcs: {}\n",
        "clouds[0].auth.aksk.secret_key",
    ),
    (
        "    auth: { aksk: { access_key: {}, secret_key: sk-example } }\n    dcs: {}\n",
        "clouds[0].auth.aksk.access_key",
    ),
];

/// The sections that hold secrets, written as something else.
const SECRET_SECTIONS: &[(&str, &str)] = &[
    ("    auth: {}\n    dcs: {}\n", "clouds[0].auth"),
    (
        "    auth: { password: {} }\n    dcs: {}\n",
        "clouds[0].auth.password",
    ),
    (
        "    auth: { token: {} }\n    dcs: {}\n",
        "clouds[0].auth.token",
    ),
    (
        "    auth: { aksk: {} }\n    dcs: {}\n",
        "clouds[0].auth.aksk",
    ),
];

/// (config text, the exact error `load` gives for it as `config.yaml`).
fn secret_cases() -> Vec<(String, String)> {
    let mut cases = Vec::new();
    for (template, path) in SECRET_FIELDS {
        for (form, kind) in secret_forms() {
            let fix = if matches!(kind, "a number" | "a boolean") {
                QUOTE_IT
            } else {
                ONE_STRING
            };
            cases.push((
                format!("{HEAD}{}", template.replacen("{}", &form, 1)),
                format!("config.yaml: {path}: is {kind}, not text (its value is not shown: this field holds a secret); {fix}"),
            ));
        }
        // Null: an optional secret is missing, a required one empty.
        let null = format!("{HEAD}{}", template.replacen("{}", "~", 1));
        let want = match *path {
            "clouds[0].auth.aksk.access_key" => format!("config.yaml: {path}: is empty (null); set it, for example from an environment variable: ${{VAR}}"),
            p => {
                let (section, key) = p.rsplit_once('.').unwrap();
                format!("config.yaml: {section}: missing {key}; set {key} (e.g. ${{VAR}}) or {key}_file")
            }
        };
        cases.push((null, want));
    }
    for (template, path) in SECRET_SECTIONS {
        for (form, kind) in secret_forms()
            .into_iter()
            .filter(|(_, kind)| *kind != "a mapping")
            .chain([(format!("s3cr3t-{DIGITS}"), "text")])
        {
            cases.push((
                format!("{HEAD}{}", template.replacen("{}", &form, 1)),
                format!("config.yaml: {path}: is {kind}, not a mapping (its value is not shown: this section holds secrets); write this section as a mapping of its fields (see the annotated config.yaml)"),
            ));
        }
    }
    cases
}

#[test]
fn a_secret_of_any_yaml_type_is_refused_without_being_echoed() {
    let mut failures = Vec::new();
    for (i, (text, want)) in secret_cases().iter().enumerate() {
        match load(text) {
            Ok(_) => failures.push(format!("case {i}: accepted\n{text}")),
            Err(got) => {
                if &got != want {
                    failures.push(format!("case {i}:\n{text}  got  {got:?}\n  want {want:?}"));
                }
                if got.contains(DIGITS) || got.contains("3091") {
                    failures.push(format!("case {i}: the secret leaked: {got}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_quoted_numeric_secret_is_text() {
    let text = format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: \"0{DIGITS}\" }} }}\n    dcs: {{}}\n");
    let cfg = load(&text).unwrap();
    match &cfg.clouds[0].auth {
        AuthConfig::Password { password, .. } => {
            assert_eq!(password.expose_secret(), format!("0{DIGITS}"))
        }
        other => panic!("wrong auth {}", other.method()),
    }
}

/// One-letter secrets used to be blanked out of every message by search-and-replace, garbling it
/// (`d<secret>main`) and showing where the letter occurs.
fn one_letter_cases() -> Vec<(String, String)> {
    vec![
        (
            format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: o, pasword_file: /run/pw }} }}\n    dcs: {{}}\n"),
            "config.yaml: clouds[0].auth.password.pasword_file: unknown field `pasword_file`, expected one of `domain`, `user`, `password`, `password_file`; remove it or fix its spelling".into(),
        ),
        (
            format!("{HEAD}    auth: {{ token: {{ value: o }} }}\n    dcs: {{}}\ntimeout: soon\n"),
            "config.yaml: timeout: \"soon\" is not a duration (expected number at 0); write it like 10s, 5m or 1h30m".into(),
        ),
    ]
}

#[test]
fn a_one_letter_secret_leaves_messages_intact() {
    for (text, want) in one_letter_cases() {
        assert_eq!(load(&text).unwrap_err(), want);
    }
}

#[test]
fn a_bad_reference_inside_a_secret_is_not_quoted() {
    let text = format!("{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: \"{DIGITS}${{no-such}}\" }} }}\n    dcs: {{}}\n");
    let err = load(&text).unwrap_err();
    assert_eq!(err, "config.yaml: clouds[0].auth.password.password: holds a `${` that is not a valid environment variable reference (not shown: this field is a secret); names use letters, digits and `_`, and `$$` is a literal `$`");
}

#[tokio::test]
async fn reload_errors_for_secrets_are_the_load_errors_and_never_echo() {
    // Arrange: an exporter serving a good file.
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let good = format!(
        "clouds:\n  - name: tok\n    region: ap-southeast-1\n    project_id: {}\n    auth: {{ token: {{ value: demo-static-token }} }}\n    endpoints: {{ dcs: \"{}\" }}\n    dcs: {{}}\n",
        sim.project_id(),
        sim.base_url()
    );
    std::fs::write(&path, &good).unwrap();
    let (addr, _state, _stop) = crate::helpers::serve_file(&path).await;
    let http = reqwest::Client::new();
    let file = path.display().to_string();

    // Act + Assert: every bad file is refused with the load message, naming this file.
    let mut failures = Vec::new();
    for (i, (text, want)) in secret_cases()
        .into_iter()
        .chain(one_letter_cases())
        .enumerate()
    {
        std::fs::write(&path, &text).unwrap();
        let r = http
            .post(format!("http://{addr}/-/reload"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        let want = format!(
            "Reload failed: {}\n",
            want.replacen("config.yaml", &file, 1)
        );
        if status != 500 || body != want {
            failures.push(format!(
                "case {i}: HTTP {status}\n  got  {body:?}\n  want {want:?}"
            ));
        }
        if body.contains(DIGITS) {
            failures.push(format!("case {i}: the secret leaked: {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Reload: command-line overrides survive it, and what did not change is kept.

/// A one-cloud config file against `sim`: `auth` as given, the `phones` as its KooPhone list.
fn reload_config(
    sim: &huaweicloud_exporter::sim::SimHandle,
    auth: &str,
    phones: &[String],
    extra: &str,
) -> String {
    format!(
        "shard: {{ index: 2, total: 3 }}\nclouds:\n  - name: pw\n    region: ap-southeast-1\n    project_id: {}\n    auth: {auth}\n    endpoints: {b}\n    dcs: {{}}\n    koophone: {{ instance_ids: [{}] }}\n{extra}",
        sim.project_id(),
        phones.join(", "),
        b = crate::helpers::endpoints(&sim.base_url())
    )
}

/// The phone ids of the `huaweicloud_koophone_instance_status` series of `m`, sorted.
fn phones_in(m: &crate::helpers::Exposition) -> Vec<String> {
    let mut ids: Vec<String> = m
        .find("huaweicloud_koophone_instance_status", &[("cloud", "pw")])
        .iter()
        .map(|s| s.labels["instance_id"].clone())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn shard_flags_outrank_the_file_on_every_reload() {
    use huaweicloud_exporter::config::{shard_of, Overrides, Source};
    // Arrange: the file says shard 2 of 3; the flags say shard 1 of 3.
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(60)).await;
    let ids = sim.phone_ids();
    let mut mine: Vec<String> = ids
        .iter()
        .filter(|id| shard_of(id, 3) == 1)
        .cloned()
        .collect();
    mine.sort();
    assert!(!mine.is_empty() && mine.len() < ids.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let token = "{ token: { value: demo-static-token } }";
    std::fs::write(&path, reload_config(&sim, token, &ids, "")).unwrap();
    let source = Source {
        path: path.clone(),
        overrides: Overrides::from_shard_flags(Some(1), Some(3)).unwrap(),
    };
    let app = huaweicloud_exporter::app::Application::from_source(
        source,
        "127.0.0.1:0".parse().unwrap(),
        "/metrics",
    )
    .await
    .unwrap()
    .with_lifecycle(huaweicloud_exporter::server::Lifecycle::Enabled);
    let (addr, _state, _stop) = crate::helpers::serve(app);
    let http = reqwest::Client::new();
    let scrape = || crate::helpers::scrape_addr(addr);
    let before = scrape().await;

    // Act: reload twice, the second time with a changed file.
    let mut after = Vec::new();
    for extra in ["", "timeout: 7s\n"] {
        crate::helpers::reload_file(&http, addr, &path, reload_config(&sim, token, &ids, extra))
            .await;
        after.push(scrape().await);
    }

    // Assert: shard 1's phones only, and no DCS (shard 0 collects it), every time.
    for m in std::iter::once(&before).chain(&after) {
        assert_eq!(phones_in(m), mine);
        assert!(m
            .find(
                "huaweicloud_scrape_collector_success",
                &[("collector", "dcs")]
            )
            .is_empty());
    }
}

#[test]
fn shard_flags_are_checked_like_the_file() {
    use huaweicloud_exporter::config::{Overrides, Shard};
    assert_eq!(Overrides::from_shard_flags(None, None).unwrap().shard, None);
    assert_eq!(
        Overrides::from_shard_flags(Some(2), Some(3)).unwrap().shard,
        Some(Shard { index: 2, total: 3 })
    );
    assert_eq!(
        Overrides::from_shard_flags(Some(3), Some(3)).unwrap_err(),
        "--shard.index 3 --shard.total 3: index counts from 0 and must be below total"
    );
    assert_eq!(
        Overrides::from_shard_flags(Some(0), Some(0)).unwrap_err(),
        "--shard.index 0 --shard.total 0: index counts from 0 and must be below total"
    );
}

#[tokio::test]
async fn reloads_keep_the_token_and_caches_of_an_unchanged_cloud() {
    use crate::helpers::op;
    use huaweicloud_exporter::sim::SimUser;
    // Arrange: the simulator also knows the password the operator rotates to.
    let mut sim_config = crate::helpers::frozen_sim(20);
    sim_config.users.push(SimUser {
        domain: "demo-domain".into(),
        user: "monitoring".into(),
        password: "rotated-password".into(),
    });
    let sim = crate::helpers::spawn_sim(sim_config).await;
    let ids = sim.phone_ids();
    let auth = |pw: &str| {
        format!("{{ password: {{ domain: demo-domain, user: monitoring, password: {pw} }} }}")
    };
    let ddm = "    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], cache_ttl: 1h }\n";
    let file = |pw: &str, phones: usize| {
        // Shard 0 of 1, so DCS and DDM are collected.
        reload_config(&sim, &auth(pw), &ids[..phones], ddm).replace(
            "shard: { index: 2, total: 3 }",
            "shard: { index: 0, total: 1 }",
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, file("demo-password", 10)).unwrap();
    let (addr, _state, _stop) = crate::helpers::serve_file(&path).await;
    let http = reqwest::Client::new();
    let scrape = || crate::helpers::scrape_addr(addr);
    let first = scrape().await;
    assert_eq!(first.success("pw", "ddm"), 1.0);
    let ddm_calls = sim.calls(&op::DDM_RESTORABLE);
    assert_eq!(sim.calls(&op::IAM_TOKEN), 1);

    // Act: 20 reloads, every other one changing the phone list (not the cloud's auth).
    let mut last = first;
    for i in 0..20 {
        crate::helpers::reload_file(
            &http,
            addr,
            &path,
            file("demo-password", if i % 2 == 0 { 11 } else { 10 }),
        )
        .await;
        last = scrape().await;
        assert_eq!(last.success("pw", "koophone"), 1.0);
    }
    let iam_after_reloads = sim.calls(&op::IAM_TOKEN);
    let ddm_after_reloads = sim.calls(&op::DDM_RESTORABLE);
    // Act: rotate the password.
    crate::helpers::reload_file(&http, addr, &path, file("rotated-password", 10)).await;
    let rotated = scrape().await;

    // Assert: one token for all 20 reloads, DDM served from the kept cache, the phone list
    // rebuilt; a new password is a new client: a new token, a fresh DDM read.
    assert_eq!(iam_after_reloads, 1, "20 reloads must not fetch new tokens");
    assert_eq!(
        ddm_after_reloads, ddm_calls,
        "the DDM cache survives reloads"
    );
    assert_eq!(
        last.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "pw")]
        ),
        10.0
    );
    assert_eq!(
        sim.calls(&op::IAM_TOKEN),
        2,
        "a changed password is a new token"
    );
    assert!(sim.calls(&op::DDM_RESTORABLE) > ddm_calls);
    for collector in ["dcs", "koophone", "ddm"] {
        assert_eq!(rotated.success("pw", collector), 1.0, "{collector}");
    }
}

#[test]
fn every_error_of_a_file_is_reported_each_with_file_field_and_fix() {
    let text = format!(
        "{HEAD}{PW}    dcs: {{ max_series: 0 }}\n    colour: blue\n    koophone: {{ instance_ids: [\"a b\"] }}\n    ddm: {{ discovery: {{ refresh_interval: 500ms }} }}\nshard: {{ index: 3, total: 3 }}\n"
    );
    let err = load(&text).unwrap_err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        vec![
            unknown_cloud_field("colour").as_str(),
            "config.yaml: clouds[0].dcs.max_series: is 0; it must be between 1 and 10000000 (default 1000)",
            "config.yaml: clouds[0].koophone.instance_ids[0]: \"a b\" contains ' '; instance ids are letters, digits, `-` and `_`",
            "config.yaml: clouds[0].ddm.discovery.refresh_interval: must be at least 1s (5m is a sensible production value)",
            "config.yaml: shard: index 3 of total 3 is impossible; index counts from 0 and must be below total",
        ]
    );
}

/// The four mistakes of the operator's report, one of each kind — a missing variable, an
/// unknown key inside a section that holds secrets, a bad value and a bad endpoint — in one
/// file, and a second cloud with its own: one run names every one.
#[test]
fn errors_of_every_kind_are_reported_in_one_pass() {
    let text = format!(
        "{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: ${{HWC_NOPE}}, pasword_file: x }} }}\n    dcs: {{ max_series: 0 }}\n    colour: blue\n    endpoints: {{ dcs: http://dcs.example.com }}\n  - name: second\n    region: ap-southeast-2\n    project_id: 12345678901234567890123456789012\n{PW}    dcs: {{}}\ntimeout: soon\n"
    );
    let err = load(&text).unwrap_err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        vec![
            "config.yaml: clouds[1].project_id: 12345678901234567890123456789012 is an unquoted number, too large for YAML's integers; quote it (\"12345678901234567890123456789012\") so that it is read as text",
            "config.yaml: clouds[0].auth.password.password: environment variable HWC_NOPE is not set; export it before starting, or write the value (or a *_file path) instead",
            "config.yaml: clouds[0].colour: unknown field `colour`, expected one of `name`, `region`, `project_id`, `auth`, `endpoints`, `allow_insecure_endpoints`, `tls`, `dcs`, `koophone`, `ddm`; remove it or fix its spelling",
            "config.yaml: timeout: \"soon\" is not a duration (expected number at 0); write it like 10s, 5m or 1h30m",
            "config.yaml: clouds[0].auth.password.pasword_file: unknown field `pasword_file`, expected one of `domain`, `user`, `password`, `password_file`; remove it or fix its spelling",
            "config.yaml: clouds[0].endpoints.dcs: \"http://dcs.example.com\" is plain HTTP, so the IAM password, tokens and signatures would travel in clear; use https://, or set `allow_insecure_endpoints: true` on this cloud (clouds[0]) if the link is protected otherwise",
            "config.yaml: clouds[0].dcs.max_series: is 0; it must be between 1 and 10000000 (default 1000)",
        ]
    );
}

/// What is accepted but probably not meant is a warning of the loaded config, in the same
/// file/field/fix form, and never quotes a secret.
#[test]
fn suspicious_but_valid_settings_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: \"$HWC_PASSWORD\" }} }}\n    dcs: {{}}\n    koophone: {{ discovery: {{ name_regex: \"^$SHOP\" }} }}\n    allow_insecure_endpoints: true\n    endpoints: {{ dcs: http://dcs.example.com, ddm: http://127.0.0.1:8080 }}\n    tls: {{ insecure_skip_verify: true }}\n"
    );
    let cfg = load_str(&text, "config.yaml", dir.path(), &env).unwrap();
    let warnings: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        vec![
            "config.yaml: clouds[0].auth.password.password: holds a `$` followed by a name, which looks like an environment variable that was not expanded (not shown: this field is a secret); write `${NAME}` to take it from the environment, or `$$` for a literal `$`",
            "config.yaml: clouds[0].koophone.discovery.name_regex: `$SHOP` looks like an environment variable that was not expanded; write `${SHOP}` to take it from the environment, or `$$SHOP` for a literal `$`",
            "config.yaml: clouds[0].tls.insecure_skip_verify: is true: the certificates of this cloud's endpoints are NOT verified, so anyone on the path can pose as Huawei Cloud and take the IAM password, tokens and signatures; trust your proxy's CA with ca_file instead",
            "config.yaml: clouds[0].endpoints.dcs: \"http://dcs.example.com\" is plain HTTP (allowed by clouds[0].allow_insecure_endpoints): the IAM password, tokens and signatures travel in clear",
        ]
    );
    let c = &cfg.clouds[0];
    assert_eq!(c.endpoints.get("dcs"), "http://dcs.example.com");
    assert_eq!(c.endpoints.get("ddm"), "http://127.0.0.1:8080");
    assert!(c.tls.insecure_skip_verify);
    // `$$` says a literal `$` was meant: no warning.
    let quiet = format!(
        "{HEAD}    auth: {{ password: {{ domain: acme, user: mon, password: \"pa$$word\" }} }}\n    dcs: {{}}\n"
    );
    assert!(load_str(&quiet, "config.yaml", dir.path(), &env)
        .unwrap()
        .warnings
        .is_empty());
}

/// EU-Dublin and any other region of the European site get `.myhuaweicloud.eu` hosts for
/// every service and IAM; EU-Paris (global site) and the rest keep `.myhuaweicloud.com`.
#[test]
fn european_site_regions_derive_eu_hosts() {
    let text = |region: &str| {
        format!("clouds:\n  - name: eu\n    region: {region}\n    project_id: 0123456789abcdef0123456789abcdef\n{PW}    dcs: {{}}\n")
    };
    let cfg = load(&text("eu-west-101")).unwrap();
    let e = &cfg.clouds[0].endpoints;
    assert_eq!(e.iam, "https://iam.eu-west-101.myhuaweicloud.eu");
    assert_eq!(e.get("dcs"), "https://dcs.eu-west-101.myhuaweicloud.eu");
    assert_eq!(e.get("ddm"), "https://ddm.eu-west-101.myhuaweicloud.eu");
    assert_eq!(e.get("koophone"), "https://koophone.myhuaweicloud.eu");
    let paris = load(&text("eu-west-0")).unwrap();
    assert_eq!(
        paris.clouds[0].endpoints.get("dcs"),
        "https://dcs.eu-west-0.myhuaweicloud.com"
    );
    assert_eq!(
        paris.clouds[0].endpoints.iam,
        "https://iam.eu-west-0.myhuaweicloud.com"
    );
}
