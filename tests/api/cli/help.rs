//! The help text names the services from the registry, and the standalone simulator refuses a
//! `--fault` on an operation it does not serve, listing the ones it does.

use std::process::Command;

use huaweicloud_exporter::services::SERVICES;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_help_names_every_registered_service_and_the_shard_rule() {
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    let simulate = String::from_utf8(run(&["simulate", "--help"]).stdout).unwrap();
    let about = help.lines().next().unwrap();
    let shard = help
        .split("--shard.index")
        .nth(1)
        .and_then(|rest| rest.split("--shard.total").next())
        .unwrap();
    for s in SERVICES {
        let id = s.identity();
        assert!(about.contains(id.title), "{about:?} names {}", id.title);
        assert!(
            simulate.lines().next().unwrap().contains(id.title),
            "{simulate}"
        );
        // Each service is named on the side of the shard rule its Identity says.
        let (side, _) = shard.split_once("shard 0 only").unwrap();
        let (split, whole) = side.rsplit_once('(').unwrap();
        if id.account_wide {
            assert!(
                whole.contains(id.title),
                "{shard:?}: {} on shard 0",
                id.title
            );
        } else {
            assert!(split.contains(id.title), "{shard:?}: {} split", id.title);
        }
    }
}

#[test]
fn the_standalone_simulator_refuses_a_fault_on_an_unknown_operation() {
    let out = run(&[
        "simulate",
        "--listen",
        "127.0.0.1:0",
        "--fault",
        "rds_list=hang",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(r#"unknown operation \"rds_list\"; expected one of: "#),
        "{stderr}"
    );
    let ops = SERVICES.iter().flat_map(|s| s.operations().iter());
    for op in ops {
        assert!(stderr.contains(op.name), "{stderr} lists {}", op.name);
    }
}
