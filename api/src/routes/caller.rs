//! The `Caller` extractor: who a request acts as, from its api key or bearer token, and the
//! client address it is counted under.

use std::sync::Arc;

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use crate::ids::UserId;
use crate::{auth::Caller, error::ApiError, state::AppState};

/// The api key or bearer token a request carries. As in PYBOSSA, an `Authorization` header
/// wins over the `api_key` query parameter, even when it is wrong.
enum Credential {
    ApiKey(String),
    Bearer(String),
    None,
}

fn credential(req: &Request) -> Credential {
    if let Some(header) = req.headers().get("authorization") {
        let value = header.to_str().unwrap_or("").trim();
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Credential::Bearer(token.trim().to_string());
        }
        return if value.is_empty() {
            Credential::None
        } else {
            Credential::ApiKey(value.to_string())
        };
    }
    let query = req.uri().query().unwrap_or("");
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "api_key"))
        .map(|(_, v)| Credential::ApiKey(v))
        .unwrap_or(Credential::None)
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not one of the trusted proxies. Without trusted proxies the header
/// is ignored, so nobody can pick the address they are counted under.
pub fn client_ip(req: &Request, trusted: &[ipnet::IpNet]) -> String {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map(std::net::SocketAddr::ip)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
        .to_string()
}

/// Who sent the request.
pub async fn resolve(state: &AppState, req: &Request) -> Result<Caller, ApiError> {
    let ip = client_ip(req, &state.trusted_proxies);
    let user = match credential(req) {
        Credential::None => None,
        Credential::Bearer(token) => match state.infra.tokens.verify(&token) {
            // A token issued before the account's last sign-out, password change or new api
            // key carries an older version.
            Some((id, version)) => state
                .accounts
                .by_id(&state.infra.db, UserId(id))
                .await?
                .filter(|u| u.token_version == version),
            None => None,
        },
        Credential::ApiKey(key) => state.accounts.by_key(&state.infra.db, &key).await?,
    };
    if user.as_ref().is_some_and(|u| !u.enabled) {
        return Err(crate::domain::platform::accounts::disabled());
    }
    Ok(Caller { user, ip })
}

const SCHEMES: [(&str, MetaSecurityScheme); 3] = [
    (
        "api_key",
        MetaSecurityScheme {
            ty: "apiKey",
            description: Some("PYBOSSA api key as the `api_key` query parameter."),
            name: Some("api_key"),
            key_in: Some("query"),
            scheme: None,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    ),
    (
        "api_key_header",
        MetaSecurityScheme {
            ty: "apiKey",
            description: Some("PYBOSSA api key as the raw `Authorization` header value."),
            name: Some("Authorization"),
            key_in: Some("header"),
            scheme: None,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    ),
    (
        "bearer",
        MetaSecurityScheme {
            ty: "http",
            description: Some("Access token from `POST /api/auth/login`."),
            name: None,
            key_in: None,
            scheme: Some("bearer"),
            bearer_format: Some("JWT"),
            flows: None,
            openid_connect_url: None,
        },
    ),
];

impl<'a> ApiExtractor<'a> for Caller {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        for (name, scheme) in SCHEMES {
            registry.create_security_scheme(name, scheme);
        }
    }

    fn security_schemes() -> Vec<&'static str> {
        SCHEMES.iter().map(|(name, _)| *name).collect()
    }

    /// Anonymous access is allowed everywhere; operations refuse it themselves when needed.
    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        // Already resolved by the rate limiter for this request.
        if let Some(caller) = req.extensions().get::<Caller>() {
            return Ok(caller.clone());
        }
        let state = req
            .data::<Arc<AppState>>()
            .ok_or_else(|| ApiError::internal("application state missing"))?;
        Ok(resolve(state, req).await?)
    }
}
