//! The listing's `query_start_time`/`query_end_time` checks: the format the page gives and the
//! order of the two, with the error codes of the listing's table.

/// `query_start_time`/`query_end_time`: UTC, `2023-08-15 14:30:45`, at most 32 characters; a
/// value in another form is `KOOPHONE.API.5002`, an end before the start `KOOPHONE.API.5004`
/// (the listing's error table); the error is its code and message. Which timestamp they filter
/// on no source says, so a valid range narrows nothing: every phone stays listed.
pub(super) fn check_time_range(
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(), (&'static str, String)> {
    let parse = |name: &str, v: Option<&str>| {
        let Some(v) = v else { return Ok(None) };
        let shaped = v.len() == 19 && v.as_bytes().get(10) == Some(&b' ');
        shaped
            .then(|| humantime::parse_rfc3339_weak(v).ok())
            .flatten()
            .map(Some)
            .ok_or_else(|| {
                (
                    "KOOPHONE.API.5002",
                    format!(
                        "The time parameter {name} is in a wrong format; expected yyyy-MM-dd HH:mm:ss."
                    ),
                )
            })
    };
    let start = parse("query_start_time", start)?;
    let end = parse("query_end_time", end)?;
    match (start, end) {
        (Some(s), Some(e)) if e < s => Err((
            "KOOPHONE.API.5004",
            "The query end time is earlier than the start time.".to_string(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_range_checks() {
        let code = |s, e| check_time_range(s, e).err().map(|(code, _)| code);
        assert_eq!(
            code(Some("2023-08-15 14:30:45"), Some("2023-08-15 14:30:45")),
            None
        );
        assert_eq!(code(None, Some("2023-08-15 14:30:45")), None);
        for bad in [
            "2023-08-15T14:30:45",
            "2023-02-30 10:00:00",
            "15.08.2023",
            "",
        ] {
            assert_eq!(code(Some(bad), None), Some("KOOPHONE.API.5002"), "{bad}");
        }
        let reversed = code(Some("2024-01-02 00:00:00"), Some("2024-01-01 23:59:59"));
        assert_eq!(reversed, Some("KOOPHONE.API.5004"));
    }
}
