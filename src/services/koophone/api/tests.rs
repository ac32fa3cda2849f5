//! The KooPhone calls' decoders, on the reference pages' examples and on what else an answer
//! might hold.

use super::*;
use crate::transport::BodyError;

#[test]
fn parses_the_listing_example_and_never_keeps_personal_fields() {
    let body = br#"{"data": {"result": [{"instance_id": "a44uhlf7", "instance_name": "shop-floor-07", "region": "ap-southeast-1",
   "instance_sku": "Professional | 8 vCPUs | 16 GB", "frozen_status": 0, "running_status": 2, "login_status": 1,
   "assign_status": 1, "assign_user": "someone@example.com", "billing_mode": "ON_DEMAND",
   "project_id": "0123", "project_name": "ap-southeast-1", "phone_id": "03c0802ce8b48d32",
   "member_name": "Some One", "account_name": "someone_acct", "region_name": "AP-Singapore",
   "region_name_en": "AP-Singapore", "backup_status": 2, "backup_time": "2025-11-02 10:00:00",
   "restore_status": null, "restore_time": null}, {"instance_name": "no id"}, {"instance_id": 12345},
   {"instance_id": "a b"}],
  "page_no": 1, "page_size": 100, "total_count": 1250, "error_code": "0", "error_msg": "ok"},
 "error_code": "0", "error_msg": "ok"}"#;
    let p = parse_list(body).unwrap();
    assert_eq!(p.total, Some(1250));
    assert_eq!(p.skipped, 3);
    assert_eq!(p.phones[0].instance_name, "shop-floor-07");
    assert_eq!(p.phones[0].running_status, StatusValue::Code(2));
    assert_eq!(p.phones[0].frozen, Some(false));
    let debug = format!("{p:?}");
    for personal in ["someone", "Some One"] {
        assert!(!debug.contains(personal), "{debug}");
    }
}

#[test]
fn listing_errors_sit_in_data_or_at_the_top() {
    for body in [
        &br#"{"data":{"error_code":"KOOPHONE.API.1004","error_msg":"not subscribed"}}"#[..],
        br#"{"error_code":"KOOPHONE.API.1004","error_msg":"not subscribed"}"#,
        br#"{"error_code":"0","data":{"result":[],"error_code":"KOOPHONE.API.1004","error_msg":"not subscribed"}}"#,
        br#"{"error_code":"KOOPHONE.API.1004","error_msg":"not subscribed","data":{"result":"x"}}"#,
    ] {
        assert!(
            matches!(parse_list(body), Err(BodyError::Api { code, .. }) if code == "KOOPHONE.API.1004"),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(parse_list(br#"{"data":{"result":[],"error_code":"0","total_count":0}}"#).is_ok());
    assert!(parse_list(br#"{"error_code":"0","data":{"result":[]}}"#).is_ok());
    assert!(parse_list(br#"{"data":{"result":[]}}"#).is_err());
}

#[test]
fn parses_the_page_examples() {
    let s = parse_status(br#"{"data":{"status_results":[{"instance_id":"a44uhlf7","status":0}]},"error_code":"0","error_msg":"ok"}"#).unwrap();
    assert_eq!(
        s,
        vec![StatusResult {
            instance_id: "a44uhlf7".into(),
            status: StatusValue::Code(0)
        }]
    );
    let c = parse_command(br#"{"data":{"task_id":"6837531fd3f54550927b930180a706bf","cmd_jobs":[{"instance_id":"a44uhlf7","job_id":"1564567b8bab40f34711234cb80d0123"},{"instance_id":"efjy72gs","job_id":"1564567b8bab40f34711234cb80d0456"}]},"error_code":"0","error_msg":"ok"}"#).unwrap();
    assert_eq!(c.task_id, "6837531fd3f54550927b930180a706bf");
    assert_eq!(c.cmd_jobs.len(), 2);
    let t = parse_task(br#"{"data":{"jobs":[{"job_id":"1564567b8bab40f34711234cb80d0123","status":-1,"error_code":"CPS0005","error_msg":"Phone not found.","execute_msg":null},{"job_id":"1564567b8bab40f34711234cb80d0456","status":2,"error_code":"","error_msg":"","execute_msg":"xxxxxx"}]},"error_code":"0","error_msg":"ok"}"#).unwrap();
    assert_eq!(t[0].status, -1);
    assert_eq!(t[0].error_code.as_deref(), Some("CPS0005"));
    assert_eq!(t[0].execute_msg, None);
    assert_eq!(t[1].execute_msg.as_deref(), Some("xxxxxx"));
}

#[test]
fn out_of_range_and_odd_statuses_keep_their_raw_text() {
    let s = parse_status(br#"{"data":{"status_results":[
        {"instance_id":"a","status":9223372036854775808},
        {"instance_id":"b","status":"3"},
        {"instance_id":"c","status":2.5},
        {"instance_id":"d","status":null},
        {"instance_id":"e"},
        {"instance_id":"f","status":[1,{"x":2}]},
        {"instance_id":"g","status":{"k":"v"}},
        {"instance_id":"h","status":"line\nbreak and a string far longer than thirty-two characters"},
        {"instance_id":"i","status":-9223372036854775808},
        {"instance_id":"j","status":true},
        {"instance_id":"k","status":4}
    ]},"error_code":"0"}"#)
    .unwrap();
    let got: Vec<StatusValue> = s.into_iter().map(|r| r.status).collect();
    let raw = |t: &str| StatusValue::Unreadable(t.into());
    assert_eq!(
        got,
        vec![
            raw("9223372036854775808"),
            raw("3"),
            raw("2.5"),
            raw("null"),
            raw(""),
            raw("array"),
            raw("object"),
            raw("line\u{FFFD}break and a string far lon…"),
            StatusValue::Code(i64::MIN),
            raw("true"),
            StatusValue::Code(4),
        ]
    );
}

#[test]
fn wrong_types_name_the_field() {
    let e = parse_status(
        br#"{"data":{"status_results":[{"instance_id":7,"status":3}]},"error_code":"0"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("at data.status_results[0].instance_id: invalid type: integer"),
        "{e}"
    );
    let e = parse_status(br#"{"error_code":"0"}"#).unwrap_err();
    assert_eq!(e, BodyError::Decode("at data: missing field `data`".into()));
}

#[test]
fn an_error_code_is_an_api_error_whatever_the_data() {
    for body in [
        &br#"{"error_code":"KOOPHONE.API.1000","error_msg":"bad parameter"}"#[..],
        br#"{"error_code":"KOOPHONE.API.1000","error_msg":"bad parameter","data":{"status_results":"nonsense"}}"#,
        br#"{"error_code":"KOOPHONE.API.1000","error_msg":"bad parameter","data":null}"#,
    ] {
        assert_eq!(
            parse_status(body).unwrap_err(),
            BodyError::Api {
                code: "KOOPHONE.API.1000".into(),
                message: "bad parameter".into()
            }
        );
    }
    let e = parse_status(br#"{"data":{"status_results":[]}}"#).unwrap_err();
    assert_eq!(
        e,
        BodyError::Api {
            code: "<missing error_code>".into(),
            message: String::new()
        }
    );
    assert!(matches!(
        parse_status(b"{\"error_code\":"),
        Err(BodyError::Decode(_))
    ));
}

#[test]
fn a_job_without_its_optional_fields_decodes() {
    let t =
        parse_task(br#"{"data":{"jobs":[{"job_id":"j","status":1}]},"error_code":"0"}"#).unwrap();
    assert_eq!(
        t,
        vec![JobDetail {
            job_id: "j".into(),
            status: 1,
            error_code: None,
            error_msg: None,
            execute_msg: None,
        }]
    );
}

#[test]
fn restore_fields_may_be_null_absent_or_present() {
    // The definition types them an integer and a string; the cloud may send null.
    for fields in [
        r#""restore_status":null,"restore_time":null"#,
        r#""restore_status":2,"restore_time":"2025-10-20 08:30:00""#,
        r#""backup_status":2"#,
    ] {
        let body = format!(
            r#"{{"data":{{"result":[{{"instance_id":"a44uhlf7",{fields}}}],"page_no":1,"page_size":1,"total_count":1,"error_code":"0","error_msg":"ok"}}}}"#
        );
        let page = parse_list(body.as_bytes()).unwrap_or_else(|e| panic!("{fields}: {e:?}"));
        assert_eq!(page.phones.len(), 1, "{fields}");
    }
    // An error in 200 inside `data` alone (the definition's place for it) is an error.
    assert!(matches!(
        parse_list(br#"{"data":{"error_code":"KOOPHONE.API.0002","error_msg":"x-request-id missing"}}"#),
        Err(BodyError::Api { code, .. }) if code == "KOOPHONE.API.0002"
    ));
}
