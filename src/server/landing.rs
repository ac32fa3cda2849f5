//! The landing page: links, then what the exporter has been doing — for each cloud and
//! collector the last collection (outcome, when, how long), the last error with its request id
//! and the inventory size; the probe modules; the recent probes with links to their debug
//! output. Server-rendered, no script; every text from the config or a peer is escaped.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::scrape::Exporter;
use crate::status::{CollectorStatus, InventorySource, InventorySummary, ProbeRecord};

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 80rem; padding: 0 1rem; color: #1d2330; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d8dde6; padding-bottom: .3rem; }
p.sub { color: #5b6473; margin-top: 0; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e4e7ed; vertical-align: top; }
th { background: #f3f5f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; }
.err { word-break: break-word; }
.err .msg { color: #8a1c1c; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: .7rem; font-size: .8rem; font-weight: 600; }
.ok { background: #dff3e4; color: #17612e; }
.fail { background: #fbe0e0; color: #8a1c1c; }
.none { background: #eceff3; color: #5b6473; }
.muted { color: #7a8392; }
.nowrap { white-space: nowrap; }
td.err .msg { display: block; margin: .15rem 0; }
ul.links { padding-left: 1.2rem; }
"#;

/// The page.
pub fn render(
    exporter: &Exporter,
    telemetry_path: &str,
    extra_links: &[(String, String)],
) -> String {
    let now = SystemTime::now();
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Huawei Cloud Exporter</title>\n<style>{STYLE}</style></head>\n<body>\n<h1>Huawei Cloud Exporter</h1>\n<p class=\"sub\">Version {}. Management-plane state of Huawei Cloud ({2}) as Prometheus metrics.</p>\n<ul class=\"links\">\n<li><a href=\"{1}\">{1}</a> — metrics</li>\n",
        env!("CARGO_PKG_VERSION"),
        escape(telemetry_path),
        crate::services::SERVICES
            .iter()
            .map(|s| s.identity().title)
            .collect::<Vec<_>>()
            .join(", "),
    );
    for (href, text) in extra_links {
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">{}</a></li>",
            escape(href),
            escape(text)
        );
    }
    out.push_str("<li><a href=\"/-/healthy\">/-/healthy</a> · <a href=\"/-/ready\">/-/ready</a> · POST /-/reload (with --web.enable-lifecycle)</li>\n</ul>\n");

    out.push_str("<h2>Clouds</h2>\n<ul>\n");
    for c in &exporter.clouds {
        let collectors: Vec<&str> = c.inventories().into_iter().map(|(name, _)| name).collect();
        let _ = writeln!(
            out,
            "<li><b>{}</b> — {} / <span class=\"mono\">{}</span> — auth: {} — collectors: {}</li>",
            escape(&c.cfg.name),
            escape(&c.cfg.region),
            escape(&c.cfg.project_id),
            c.cfg.auth.method(),
            escape(&collectors.join(", "))
        );
    }
    out.push_str("</ul>\n");

    out.push_str("<h2>Collectors</h2>\n<table id=\"collectors\">\n<thead><tr><th>Cloud</th><th>Collector</th><th>Inventory</th><th>Last collection</th><th class=\"num\">Took</th><th>Last success</th><th>Last error, with its request id</th></tr></thead>\n<tbody>\n");
    let mut rows = 0;
    for c in &exporter.clouds {
        // The collectors each service names, then any other that has reported
        // `huaweicloud_scrape_collector_success` (the status hears of every one as it is
        // written), so no collector the metric reports lacks a row.
        let inventories = c.inventories();
        let mut ran = exporter.status.collectors_of(&c.cfg.name);
        for (collector, inventory) in &inventories {
            rows += 1;
            let last = ran
                .iter()
                .position(|(name, _)| name == collector)
                .map(|i| ran.swap_remove(i).1);
            collector_row(&mut out, &c.cfg.name, collector, Some(inventory), last, now);
        }
        ran.sort_by_key(|(name, _)| *name);
        for (collector, last) in ran {
            rows += 1;
            collector_row(&mut out, &c.cfg.name, collector, None, Some(last), now);
        }
    }
    if rows == 0 {
        out.push_str(
            "<tr><td colspan=\"7\" class=\"muted\">No collector runs on this replica.</td></tr>\n",
        );
    }
    out.push_str("</tbody></table>\n");

    let modules = crate::services::PROBER.modules(&exporter.config);
    if !modules.is_empty() {
        out.push_str("<h2>Probe modules</h2>\n<table id=\"modules\">\n<thead><tr><th>Module</th><th>Cloud</th><th>Command</th><th>Expect</th><th>Groups (debug a group)</th></tr></thead>\n<tbody>\n");
        for m in &modules {
            let name = &m.name;
            let groups: Vec<String> = m
                .groups
                .iter()
                .map(|g| {
                    format!(
                        "<a href=\"{}\">{}</a>",
                        escape(&debug_href(name, g)),
                        escape(g)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                escape(name),
                escape(&m.cloud),
                escape(&m.command),
                escape(&m.expect),
                if groups.is_empty() {
                    "<span class=\"muted\">none</span>".to_string()
                } else {
                    groups.join(", ")
                }
            );
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str("<h2>Recent probes</h2>\n<table id=\"probes\">\n<thead><tr><th>Module</th><th>Target</th><th>Result</th><th class=\"num\">Phones</th><th>Answered from</th><th>When</th><th class=\"num\">Took</th><th>Debug</th></tr></thead>\n<tbody>\n");
    let probes = exporter.status.recent_probes();
    if probes.is_empty() {
        out.push_str("<tr><td colspan=\"8\" class=\"muted\">No probe since start.</td></tr>\n");
    }
    for p in &probes {
        probe_row(&mut out, p, now);
    }
    out.push_str("</tbody></table>\n<p class=\"muted\">A debug link runs the module's command again (its own budget: see <code>/probe?…&amp;debug=true</code> in the README).</p>\n</body></html>\n");
    out
}

fn collector_row(
    out: &mut String,
    cloud: &str,
    collector: &str,
    inventory: Option<&InventorySummary>,
    last: Option<CollectorStatus>,
    now: SystemTime,
) {
    let _ = write!(
        out,
        "<tr id=\"collector-{}-{}\"><td class=\"nowrap\"><b>{}</b></td><td>{}</td><td>{}</td>",
        escape(cloud),
        escape(collector),
        escape(cloud),
        escape(collector),
        inventory.map_or_else(
            || "<span class=\"muted\">—</span>".to_string(),
            inventory_text
        )
    );
    let Some(last) = last else {
        out.push_str("<td><span class=\"badge none\">not run yet</span></td><td></td><td></td><td></td></tr>\n");
        return;
    };
    let badge = if last.ok {
        "<span class=\"badge ok\">succeeded</span>"
    } else {
        "<span class=\"badge fail\">failed</span>"
    };
    let _ = write!(
        out,
        "<td class=\"nowrap\">{badge}<br>{}</td><td class=\"num nowrap\">{}</td><td class=\"nowrap\">{}</td>",
        when(last.at, now),
        took(last.took),
        last.last_success
            .map(|t| when(t, now))
            .unwrap_or_else(|| "<span class=\"muted\">never</span>".into()),
    );
    match &last.last_error {
        None => out.push_str("<td class=\"muted\">none</td></tr>\n"),
        Some(e) => {
            let _ = writeln!(
                out,
                "<td class=\"err\"><b>{}</b> <span class=\"muted\">· {}</span><span class=\"msg\">{}</span><span class=\"muted\">request id</span> <code class=\"request-id\">{}</code></td></tr>",
                escape(e.result),
                when(e.at, now),
                escape(&e.message),
                escape(e.request_id.as_deref().unwrap_or("-")),
            );
        }
    }
}

fn inventory_text(i: &InventorySummary) -> String {
    match &i.source {
        InventorySource::AccountWide => "account-wide".into(),
        source => {
            let from = match source {
                InventorySource::Config => "listed in the config".to_string(),
                InventorySource::File => "listed in instance_ids_file".to_string(),
                InventorySource::Discovered { refreshed: Some(t) } => {
                    format!("discovered {}", when(*t, SystemTime::now()))
                }
                InventorySource::Discovered { refreshed: None } => {
                    "discovery: not listed yet".to_string()
                }
                InventorySource::AccountWide => String::new(),
            };
            let shard = if i.collected == i.total {
                String::new()
            } else {
                format!(", {} on this shard", i.collected)
            };
            let unit = if i.total == 1 {
                i.unit.trim_end_matches('s')
            } else {
                i.unit
            };
            format!(
                "{} {unit}{shard} <span class=\"muted\">({from})</span>",
                i.total
            )
        }
    }
}

fn probe_row(out: &mut String, p: &ProbeRecord, now: SystemTime) {
    let badge = if p.success {
        "<span class=\"badge ok\">success</span>".to_string()
    } else {
        format!(
            "<span class=\"badge fail\">failure</span> <span class=\"muted\">{} of {} phones</span>",
            p.failed, p.phones
        )
    };
    let _ = writeln!(
        out,
        "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"nowrap\">{badge}</td><td class=\"num\">{}</td><td>{}</td><td class=\"nowrap\">{}</td><td class=\"num nowrap\">{}</td><td><a href=\"{}\">debug</a></td></tr>",
        escape(&p.module),
        escape(&p.target),
        p.phones,
        escape(p.source),
        when(p.at, now),
        took(p.took),
        escape(&debug_href(&p.module, &p.target)),
    );
}

/// The debug probe of `module` on `target`.
pub fn debug_href(module: &str, target: &str) -> String {
    format!(
        "/probe?module={}&target={}&debug=true",
        crate::transport::encode_component(module),
        crate::transport::encode_component(target)
    )
}

/// `08:30:00Z (12s ago)` (the date too when it is not today), the full time in `datetime`.
fn when(t: SystemTime, now: SystemTime) -> String {
    let ago = Duration::from_secs(now.duration_since(t).unwrap_or_default().as_secs());
    let full = humantime::format_rfc3339_seconds(t).to_string();
    let today = humantime::format_rfc3339_seconds(now).to_string();
    let shown = if full.get(..10) == today.get(..10) {
        full.get(11..).unwrap_or(&full)
    } else {
        &full
    };
    format!(
        "<time datetime=\"{full}\" title=\"{full}\">{shown}</time> <span class=\"muted\">({} ago)</span>",
        if ago.is_zero() {
            "0s".to_string()
        } else {
            humantime::format_duration(ago).to_string()
        }
    )
}

fn took(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Minimal HTML escaping for text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventories_say_where_they_come_from_and_what_this_shard_has() {
        let i = |source, total, collected| InventorySummary {
            unit: "phones",
            source,
            total,
            collected,
        };
        let text = |i: InventorySummary| text_of(&inventory_text(&i));
        assert_eq!(
            text(i(InventorySource::Config, 10, 10)),
            "10 phones (listed in the config)"
        );
        assert_eq!(
            text(i(InventorySource::File, 10, 4)),
            "10 phones, 4 on this shard (listed in instance_ids_file)"
        );
        assert_eq!(
            text(i(InventorySource::Discovered { refreshed: None }, 1, 1)),
            "1 phone (discovery: not listed yet)"
        );
        assert_eq!(text(i(InventorySource::AccountWide, 0, 0)), "account-wide");
    }

    #[test]
    fn times_show_the_date_only_when_it_is_not_today() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 365 + 3_600);
        let recent = now - Duration::from_secs(75);
        assert_eq!(text_of(&when(recent, now)), "00:58:45Z (1m 15s ago)");
        let old = now - Duration::from_secs(86_400 * 2);
        assert!(text_of(&when(old, now)).starts_with("1970-12-30T01:00:00Z"));
    }

    /// Text of an HTML fragment (tags dropped).
    fn text_of(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }
}
