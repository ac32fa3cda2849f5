//! Series caps: too many DCS fields or phones fail the collector (before any call for phones),
//! insane DCS field names are left out, and the caps are configurable and checked.

use crate::helpers::op;
use huaweicloud_exporter::sim::FaultKind;

use crate::helpers::*;

use super::one_cloud_app;

#[tokio::test]
async fn too_many_dcs_fields_fail_the_collector_unless_the_cap_allows_them() {
    let app = one_cloud_app().await;
    app.sim
        .set_fault(&op::DCS_STATUS, fault(FaultKind::ManyFields));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs"), 0.0);
    assert_eq!(m.success("c", "koophone"), 1.0);
    assert_eq!(m.success("c", "ddm"), 1.0);
    assert!(m.find("huaweicloud_dcs_instances", &[]).is_empty());

    let raised = spawn_app(Opts {
        sim: frozen_sim(10),
        config: ONE_CLOUD.replace("dcs: {}", "dcs: { max_series: 20000 }"),
    })
    .await;
    raised
        .sim
        .set_fault(&op::DCS_STATUS, fault(FaultKind::ManyFields));
    let m = raised.scrape().await;
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert!(m.find("huaweicloud_dcs_instances", &[]).len() > 5_000);
    assert!(m.find("huaweicloud_dcs_engine_instances", &[]).len() > 5_000);
}

#[tokio::test]
async fn insane_dcs_field_names_are_left_out() {
    let app = one_cloud_app().await;
    app.sim
        .set_fault(&op::DCS_STATUS, fault(FaultKind::InsaneFieldNames));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert_eq!(
        m.find("huaweicloud_dcs_instances", &[("state", "running")])
            .len(),
        1
    );
    for s in m
        .find("huaweicloud_dcs_instances", &[])
        .into_iter()
        .chain(m.find("huaweicloud_dcs_engine_instances", &[]))
    {
        for v in s.labels.values() {
            assert!(
                v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)),
                "insane label value {v:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_phone_list_beyond_the_cap_fails_before_any_call() {
    let app = spawn_app(Opts {
        sim: frozen_sim(30),
        config: ONE_CLOUD.replace(
            "koophone: { instance_ids: [{phones}] }",
            "koophone: { instance_ids: [{phones}], max_series: 20 }",
        ),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "koophone"), 0.0);
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert_eq!(app.sim.calls(&op::KOOPHONE_BATCH_STATUS), 0);
}

#[test]
fn series_caps_are_configurable_and_checked() {
    let load = |dcs: &str| {
        let text = format!(
            "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcdef\n    auth: {{ token: {{ value: t }} }}\n    dcs: {dcs}\n"
        );
        huaweicloud_exporter::services::load_str(
            &text,
            "config.yaml",
            std::path::Path::new("."),
            &|_| None,
        )
        .map_err(|e| e.to_string())
    };
    let max_series = |section: &str| {
        load(section).map(|c| {
            c.clouds[0]
                .sections
                .get::<huaweicloud_exporter::services::dcs::config::DcsConfig>("dcs")
                .map(|d| d.max_series)
        })
    };
    assert_eq!(max_series("{}"), Ok(Some(1_000)));
    assert_eq!(max_series("{ max_series: 5 }"), Ok(Some(5)));
    assert_eq!(
        load("{ max_series: 0 }").unwrap_err(),
        "config.yaml: clouds[0].dcs.max_series: is 0; it must be between 1 and 10000000 (default 1000)"
    );
}
