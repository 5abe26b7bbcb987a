//! Fetching an import's URL: through the outbound guard (every hop of a redirect checked again),
//! within the import size and time limits, into a temporary file the reader then streams.

use std::io::{Seek, Write};
use std::time::Duration;

use super::{Failure, Format};
use crate::domain::platform::outbound;
use crate::infra::Infra;

/// Redirects followed (Google Sheets' export answers with one).
const MAX_REDIRECTS: usize = 5;

/// A fetched file, rewound, and the format its answer named.
pub struct Fetched {
    pub file: std::fs::File,
    pub format: Option<Format>,
}

/// A Google Sheets link (`…/spreadsheets/d/<id>/edit#gid=<n>`, `…/view`, `…/htmlview`) as its
/// CSV export link; any other URL as it is.
pub fn google_sheets_csv(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    if url.host_str()? != "docs.google.com" {
        return None;
    }
    let mut parts = url.path_segments()?;
    if parts.next()? != "spreadsheets" || parts.next()? != "d" {
        return None;
    }
    let id = parts.next()?;
    if id.is_empty() || parts.clone().next() == Some("export") {
        return None;
    }
    let gid = url
        .fragment()
        .and_then(|f| f.strip_prefix("gid="))
        .map(str::to_string)
        .or_else(|| {
            url.query_pairs()
                .find(|(k, _)| k == "gid")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit()));
    let mut export = format!("https://docs.google.com/spreadsheets/d/{id}/export?format=csv");
    if let Some(gid) = gid {
        export.push_str("&gid=");
        export.push_str(&gid);
    }
    Some(export)
}

fn format_of(content_type: &str, url: &reqwest::Url) -> Option<Format> {
    let ct = content_type.to_ascii_lowercase();
    if ct.starts_with("text/csv") || ct.starts_with("application/csv") {
        return Some(Format::Csv);
    }
    if ct.contains("ndjson") || ct.contains("jsonl") || ct.contains("json-seq") {
        return Some(Format::Jsonl);
    }
    url.path_segments()
        .and_then(|mut s| s.next_back())
        .and_then(Format::from_file_name)
}

/// Fetches `raw` into a temporary file.
pub async fn to_temp_file(infra: &Infra, raw: &str) -> Result<Fetched, Failure> {
    let limit = Duration::from_secs(infra.config.import_fetch_secs.max(1));
    match tokio::time::timeout(limit, Box::pin(fetch(infra, raw, limit))).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Failure::Refused(format!(
            "timed out: the URL did not send its file within {} s",
            limit.as_secs()
        ))),
    }
}

async fn fetch(infra: &Infra, raw: &str, limit: Duration) -> Result<Fetched, Failure> {
    let sheets = google_sheets_csv(raw);
    let mut url = sheets.clone().unwrap_or_else(|| raw.trim().to_string());
    let cap = infra.config.max_import_bytes;
    let allow = &infra.config.webhook_allow;
    for _ in 0..=MAX_REDIRECTS {
        let target = outbound::check(&url, allow)
            .await
            .map_err(|e| Failure::Refused(format!("the URL was refused: {e}")))?;
        let client = outbound::client(&target, limit).map_err(Failure::Transient)?;
        let resp = client.get(target.url.clone()).send().await.map_err(|e| {
            Failure::Refused(format!(
                "the URL could not be fetched: {}",
                outbound::describe_error(&e)
            ))
        })?;
        let status = resp.status();
        if status.is_redirection() {
            let next = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| target.url.join(loc).ok())
                .ok_or_else(|| Failure::Refused("the URL redirects nowhere".into()))?;
            url = next.to_string();
            continue;
        }
        if !status.is_success() {
            return Err(Failure::Refused(format!(
                "the URL answered {}{}",
                status,
                if sheets.is_some() && matches!(status.as_u16(), 401 | 403 | 404) {
                    " (is the sheet shared with anyone who has the link?)"
                } else {
                    ""
                }
            )));
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if content_type.to_ascii_lowercase().starts_with("text/html") {
            return Err(Failure::Refused(format!(
                "the URL gave an HTML page, not CSV, JSON, JSON Lines or an IIIF manifest{}",
                if sheets.is_some() {
                    " (is the sheet shared with anyone who has the link?)"
                } else {
                    ""
                }
            )));
        }
        if resp.content_length().is_some_and(|n| n > cap) {
            return Err(Failure::Refused(format!(
                "the file at the URL is larger than the {cap} bytes an import takes"
            )));
        }
        let format = if sheets.is_some() {
            Some(Format::Csv)
        } else {
            format_of(&content_type, &target.url)
        };
        let mut file = tempfile::tempfile().map_err(|e| Failure::Transient(e.to_string()))?;
        let mut resp = resp;
        let mut size = 0u64;
        loop {
            let chunk = resp.chunk().await.map_err(|e| {
                Failure::Refused(format!(
                    "the URL's file could not be read: {}",
                    outbound::describe_error(&e)
                ))
            })?;
            let Some(chunk) = chunk else { break };
            size += chunk.len() as u64;
            if size > cap {
                return Err(Failure::Refused(format!(
                    "the file at the URL is larger than the {cap} bytes an import takes"
                )));
            }
            file.write_all(&chunk)
                .map_err(|e| Failure::Transient(e.to_string()))?;
        }
        file.rewind()
            .map_err(|e| Failure::Transient(e.to_string()))?;
        return Ok(Fetched { file, format });
    }
    Err(Failure::Refused(format!(
        "the URL redirects more than {MAX_REDIRECTS} times"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheets_links_become_csv_exports() {
        assert_eq!(
            google_sheets_csv("https://docs.google.com/spreadsheets/d/abc123/edit#gid=42")
                .as_deref(),
            Some("https://docs.google.com/spreadsheets/d/abc123/export?format=csv&gid=42")
        );
        assert_eq!(
            google_sheets_csv("https://docs.google.com/spreadsheets/d/abc123/edit?usp=sharing")
                .as_deref(),
            Some("https://docs.google.com/spreadsheets/d/abc123/export?format=csv")
        );
        assert_eq!(
            google_sheets_csv("https://docs.google.com/spreadsheets/d/abc/export?format=csv"),
            None
        );
        assert_eq!(
            google_sheets_csv("https://example.org/spreadsheets/d/abc/edit"),
            None
        );
    }
}
