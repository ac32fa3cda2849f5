//! Which of Huawei Cloud's sites a region is on, and so the domain of its hosts:
//! `.myhuaweicloud.com`, or `.myhuaweicloud.eu` on the European site. The services write their
//! documented hosts for the global site; the config moves them to the region's.

/// The domain of the public site most regions' hosts are under.
const GLOBAL_SITE: &str = ".myhuaweicloud.com";
/// The domain of the European site's hosts.
const EU_SITE: &str = ".myhuaweicloud.eu";

/// Whether `region` is on Huawei's European site, whose hosts are under `.myhuaweicloud.eu`
/// (Huawei's SDKs and Terraform provider: the `eu-west-10x` regions, EU-Dublin `eu-west-101`
/// today). EU-Paris, `eu-west-0`, is on the global site.
pub fn is_eu_site(region: &str) -> bool {
    region
        .strip_prefix("eu-west-10")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
}

/// A service's documented default URL (written for the global site) moved to `region`'s site.
pub fn on_site(region: &str, url: String) -> String {
    if !is_eu_site(region) {
        return url;
    }
    match reqwest::Url::parse(&url) {
        Ok(mut u) => {
            let Some(host) = u.host_str() else { return url };
            let Some(stem) = host.strip_suffix(GLOBAL_SITE) else {
                return url;
            };
            let moved = format!("{stem}{EU_SITE}");
            if u.set_host(Some(&moved)).is_err() {
                return url;
            }
            u.as_str().trim_end_matches('/').to_string()
        }
        Err(_) => url,
    }
}
