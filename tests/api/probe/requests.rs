//! What `/probe` refuses: unknown modules, targets outside the module's cloud, malformed ids,
//! missing or repeated parameters, and any command in the query — each a one-line 400.

use std::time::Duration;

use crate::helpers::op;

use super::{get, probe_app, OTHER, UNCONFIGURED};

#[tokio::test]
async fn bad_requests_answer_400_with_a_one_line_reason() {
    let (app, _) = probe_app(Duration::from_millis(200)).await;
    let ids = app.sim.phone_ids();
    let first = ids[0].clone();
    let cases = [
        (
            "module=nope&target=healthy".to_string(),
            "module \"nope\" is not configured",
        ),
        (
            format!("module=boot&target={}", ids[UNCONFIGURED]),
            "is not a phone of cloud \"pw\"",
        ),
        (
            format!("module=boot&target={}", ids[OTHER]),
            "is not a phone of cloud \"pw\"",
        ),
        ("module=boot&target=stray".to_string(), "group \"stray\""),
        ("module=boot&target=bad%20id".to_string(), "contains ' '"),
        (
            format!("module=boot&target={}", "x".repeat(40)),
            "at most 32",
        ),
        ("module=boot".to_string(), "missing `target`"),
        (format!("target={first}"), "missing `module`"),
        (String::new(), "missing `module`"),
        (
            "module=boot&target=healthy&target=gone0001".to_string(),
            "more than once",
        ),
    ];
    for (query, want) in cases {
        let (status, ctype, text) = get(&app, &query, None).await;
        assert_eq!(status, 400, "{query}: {text}");
        assert!(ctype.starts_with("text/plain"), "{query}: {ctype}");
        assert!(text.contains(want), "{query}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{query}: {text}");
    }
    assert_eq!(
        app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND),
        0,
        "no command for a refused probe"
    );
}

#[tokio::test]
async fn a_command_in_the_query_is_refused() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;

    let (status, _, text) = get(
        &app,
        &format!("module=boot&target={}&command=reboot", healthy[0]),
        None,
    )
    .await;

    assert_eq!(status, 400);
    assert!(text.contains("cannot carry a command"), "{text}");
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 0);
}
