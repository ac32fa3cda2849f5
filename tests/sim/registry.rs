//! The simulator serves what the registry hands it, under the clients' own operations: the
//! same calls as the clients make, faults settable on each by name, unknown names refused with
//! the list of known ones.

use huaweicloud_exporter::services::{SERVICES, SIMULATED};
use huaweicloud_exporter::transport::Operation;

use super::*;

fn names(ops: &[&'static Operation]) -> Vec<&'static str> {
    let mut names: Vec<_> = ops.iter().map(|op| op.name).collect();
    names.sort_unstable();
    names
}

#[tokio::test]
async fn the_simulator_serves_exactly_the_calls_each_client_makes() {
    assert_eq!(
        SERVICES.len(),
        SIMULATED.len(),
        "one simulated entry per service"
    );
    let mut all = vec![op::IAM_TOKEN.name];
    for (service, simulated) in SERVICES.iter().zip(SIMULATED) {
        let key = service.identity().key;
        let client = service.operations();
        let served = simulated.operations();
        assert_eq!(names(client), names(&served), "service {key}");
        for op in &served {
            // The very statics the client sends, not look-alikes.
            assert!(
                client.iter().any(|c| std::ptr::eq(*c, *op)),
                "{key}: {}",
                op.name
            );
            assert_eq!(op.service, key, "{}", op.name);
        }
        all.extend(client.iter().map(|op| op.name));
    }
    all.sort_unstable();
    let sim = spawn(SimConfig::default()).await;
    assert_eq!(sim.operations(), all);
    let calls = answer(
        reqwest::get(format!("{}/_sim/calls", sim.base_url()))
            .await
            .unwrap(),
    )
    .await;
    let counted: Vec<&str> = calls
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(counted, all, "a counter per declared operation");
}

#[tokio::test]
async fn every_declared_operation_takes_a_fault_by_name() {
    let sim = spawn(SimConfig::default()).await;
    let client = reqwest::Client::new();
    let faults = format!("{}/_sim/faults", sim.base_url());
    for name in sim.operations() {
        let put = client
            .put(format!("{faults}/{name}"))
            .body(r#"{"kind":"server_error","times":3}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200, "{name}");
        let listed = answer(client.get(&faults).send().await.unwrap()).await;
        assert_eq!(listed.body[name]["kind"], "server_error", "{name}");
        assert_eq!(listed.body[name]["times"], 3, "{name}");
        let cleared = client
            .delete(format!("{faults}/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(cleared.status(), 200, "{name}");
        let listed = answer(client.get(&faults).send().await.unwrap()).await;
        assert_eq!(listed.body, json!({}), "{name}");
    }
}

#[tokio::test]
async fn an_unknown_operation_is_refused_naming_the_declared_ones() {
    let sim = spawn(SimConfig::default()).await;
    let expected = format!(
        "unknown operation \"rds_list\"; expected one of: {}",
        sim.operations().join(", ")
    );
    let client = reqwest::Client::new();
    for req in [
        client
            .put(format!("{}/_sim/faults/rds_list", sim.base_url()))
            .body(r#"{"kind":"hang"}"#),
        client.delete(format!("{}/_sim/faults/rds_list", sim.base_url())),
    ] {
        let a = answer(req.send().await.unwrap()).await;
        assert_eq!(a.status, 404);
        assert_eq!(a.body["error"], expected.as_str());
    }

    // From the start: an operation no route declares is refused, not silently inert.
    static RDS_LIST: Operation = Operation {
        service: "rds",
        name: "rds_list",
        idempotent: true,
        sends_request_id: false,
        budget: None,
        iam: None,
    };
    let start = |services: &'static [&'static huaweicloud_exporter::sim::Simulated],
                 op: &'static Operation| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = SimConfig {
            faults: vec![(op, FaultSpec::default())],
            ..SimConfig::default()
        };
        Simulator::start(services, config, listener)
            .await
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(
        start(SIMULATED, &RDS_LIST).await,
        Some(format!("simulator faults: {expected}"))
    );
    // The declared operations are those of the services handed over: IAM alone serves no DCS.
    assert_eq!(
        start(&[], &op::DCS_STATUS).await,
        Some(
            "simulator faults: unknown operation \"dcs_status\"; expected one of: iam_token".into()
        )
    );
    assert_eq!(start(SIMULATED, &op::DCS_STATUS).await, None);
}
