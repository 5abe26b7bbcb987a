//! The frame a project's task presenter runs in: its Content-Security-Policy. A presenter has
//! no network of its own but what loads scripts, styles and media, plus the origins its owner
//! lists in `info.presenter_connect` (`connect-src`, nothing else), and Tessera's own copies
//! of jQuery and Bootstrap 3 for presenters written for PYBOSSA (`info.presenter_compat`).

use serde_json::Value as Json;

use crate::error::ApiResult;
use crate::ids::ProjectId;
use crate::infra::Infra;

/// Origins a presenter may list.
const MAX_ORIGINS: usize = 20;

/// One origin as a policy names it: `https://host[:port]`, or `http://` on loopback (a
/// developer's own machine; browsers trust loopback as they trust https).
fn origin(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim()).map_err(|_| format!("{raw:?} is not an origin"))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !raw.contains('*');
    if !scheme_ok || !bare || url.host_str().is_none() {
        return Err(format!(
            "{raw:?} is not an https origin (https://host[:port], or http:// on loopback)"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// The origins `info.presenter_connect` lists, checked.
pub fn connect_origins(info: &Json) -> Result<Vec<String>, String> {
    let Some(list) = info.get("presenter_connect") else {
        return Ok(Vec::new());
    };
    let items = match list {
        Json::Null => return Ok(Vec::new()),
        Json::Array(items) => items,
        _ => return Err("info.presenter_connect must be a list of origins".into()),
    };
    if items.len() > MAX_ORIGINS {
        return Err(format!(
            "info.presenter_connect may list at most {MAX_ORIGINS} origins"
        ));
    }
    items
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or_else(|| "info.presenter_connect must be a list of origins".to_string())
                .and_then(origin)
                .map_err(|e| format!("info.presenter_connect: {e}"))
        })
        .collect()
}

/// The frame's policy: `own` is this site's origin (its copies of jQuery and Bootstrap).
pub fn frame_policy(own: &str, connect: &[String]) -> String {
    let connect = if connect.is_empty() {
        "'none'".to_string()
    } else {
        connect.join(" ")
    };
    format!(
        "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' https: {own}; \
         style-src 'unsafe-inline' https: {own}; img-src https: http: data: blob:; \
         media-src https: http: data: blob:; font-src https: data: {own}; connect-src {connect}; \
         form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
    )
}

/// The origins a project's frame may fetch from: a published project's list (a draft's frame
/// gets none: its settings are its owners' until it is published).
pub async fn frame_origins(infra: &Infra, project_id: ProjectId) -> ApiResult<Vec<String>> {
    let Some(project) = crate::domain::rest::resources::load_project(&infra.db, project_id).await?
    else {
        return Ok(Vec::new());
    };
    if !project.published {
        return Ok(Vec::new());
    }
    Ok(project
        .info
        .as_ref()
        .and_then(|info| connect_origins(info).ok())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_bare_https_or_loopback_origins() {
        let ok = connect_origins(&json!({"presenter_connect": [
            "https://tiles.example.org", "https://iiif.example.org:8443/", "http://127.0.0.1:9000", "http://localhost:3000"
        ]}))
        .expect("origins");
        assert_eq!(
            ok,
            vec![
                "https://tiles.example.org",
                "https://iiif.example.org:8443",
                "http://127.0.0.1:9000",
                "http://localhost:3000"
            ]
        );
        for bad in [
            json!(["http://example.org"]),
            json!(["https://example.org/path"]),
            json!(["https://*.example.org"]),
            json!(["https://example.org?x=1"]),
            json!(["javascript:alert(1)"]),
            json!(["https://a@example.org"]),
            json!(["'unsafe-eval'"]),
            json!("https://example.org"),
            json!([1]),
        ] {
            assert!(
                connect_origins(&json!({ "presenter_connect": bad })).is_err(),
                "{bad} accepted"
            );
        }
        assert!(frame_policy("http://x", &[]).contains("connect-src 'none'"));
    }
}
