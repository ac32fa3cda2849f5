//! The HTTP face: landing page, health, readiness, reload.

use huaweicloud_exporter::config::load_file;

use crate::helpers::*;

#[tokio::test]
async fn landing_health_and_readiness() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: TWO_CLOUDS.into(),
    })
    .await;
    let page = app
        .http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("href=\"/metrics\""), "{page}");
    assert!(
        page.contains("<b>pw</b>") && page.contains("<b>tok</b>"),
        "{page}"
    );
    assert!(!page.contains("demo-password") && !page.contains("demo-static-token"));
    for path in ["/-/healthy", "/-/ready"] {
        assert_eq!(
            app.http.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    assert_eq!(
        app.http
            .get(app.url("/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A config that did not come from a file cannot be reloaded, and says so.
    let err = app.state.reload().await.unwrap_err();
    assert!(err.contains("no file to reload"), "{err}");
}

#[tokio::test]
async fn reload_swaps_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let sim = spawn_app(Opts {
        sim: frozen_sim(10),
        config: TWO_CLOUDS.into(),
    })
    .await
    .sim;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let cloud = |name: &str| {
        format!(
            "clouds:\n  - name: {name}\n    region: ap-southeast-1\n    project_id: {}\n    auth: {{ token: {{ value: demo-static-token }} }}\n    endpoints: {{ iam: \"{b}\", dcs: \"{b}\", ddm: \"{b}\", koophone: \"{b}\" }}\n    dcs: {{}}\n",
            sim.project_id(),
            b = sim.base_url()
        )
    };
    std::fs::write(&path, cloud("first")).unwrap();
    let (addr, _state, tx) = serve(build(load_file(&path).unwrap(), Some(path.clone())).await);
    let http = reqwest::Client::new();
    let scrape = || async {
        Exposition::parse(
            &http
                .get(format!("http://{addr}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
    };
    assert_eq!(scrape().await.success("first", "dcs"), 1.0);

    std::fs::write(&path, cloud("second")).unwrap();
    let r = http
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = scrape().await;
    assert_eq!(m.success("second", "dcs"), 1.0);
    assert!(m
        .find(
            "huaweicloud_scrape_collector_success",
            &[("cloud", "first")]
        )
        .is_empty());
    assert_eq!(
        m.value("huaweicloud_exporter_config_last_reload_successful", &[]),
        1.0
    );

    std::fs::write(&path, "clouds: [oops").unwrap();
    let r = http
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let body = r.text().await.unwrap();
    assert!(body.contains("config.yaml: not valid YAML"), "{body}");
    let m = scrape().await;
    assert_eq!(
        m.success("second", "dcs"),
        1.0,
        "the old config keeps serving"
    );
    assert_eq!(
        m.value("huaweicloud_exporter_config_last_reload_successful", &[]),
        0.0
    );
    drop(tx);
}
