//! The SMTP transport: lettre (the Rust mail crate in widest use, kept up; async on tokio, TLS
//! through the rustls the tree already has) behind `TESSERA_SMTP_URL`. Without it there is no
//! transport and mail stays in the outbox (`domain::platform::mail`).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::Mailbox,
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
};

/// How the connection is secured, from the URL's scheme and `tls` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp://`: no TLS.
    Plain,
    /// `smtp://…?tls=starttls` (or `required`): STARTTLS, refusing a server without it.
    StartTls,
    /// `smtp://…?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtps://`: TLS from the first byte.
    Wrapper,
}

/// `TESSERA_SMTP_URL` taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<(String, String)>,
}

impl SmtpUrl {
    /// `smtp://[user:pass@]host[:port][?tls=starttls|required|opportunistic|none]` or
    /// `smtps://[user:pass@]host[:port]`; user and password percent-encoded.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim())
            .map_err(|e| format!("TESSERA_SMTP_URL is not a URL: {e}"))?;
        let mut security = match url.scheme() {
            "smtp" => Security::Plain,
            "smtps" => Security::Wrapper,
            other => {
                return Err(format!(
                    "TESSERA_SMTP_URL must start with smtp:// or smtps://, not {other}://"
                ));
            }
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref(), security) {
                ("tls", "starttls" | "required", Security::Plain) => security = Security::StartTls,
                ("tls", "opportunistic", Security::Plain) => security = Security::Opportunistic,
                ("tls", "none", Security::Plain)
                | ("tls", "wrapper" | "tls", Security::Wrapper) => {}
                ("tls", v, _) => {
                    return Err(format!(
                        "TESSERA_SMTP_URL: tls={v} does not go with {}://",
                        url.scheme()
                    ));
                }
                (k, _, _) => return Err(format!("TESSERA_SMTP_URL: unknown parameter {k}")),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("TESSERA_SMTP_URL has no host")?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port().unwrap_or(match security {
            Security::Wrapper => 465,
            Security::StartTls | Security::Opportunistic => 587,
            Security::Plain => 25,
        });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(std::borrow::Cow::into_owned)
                .map_err(|_| "TESSERA_SMTP_URL: user or password is not UTF-8".to_string())
        };
        let credentials = if url.username().is_empty() {
            None
        } else {
            Some((
                decode(url.username())?,
                decode(url.password().unwrap_or(""))?,
            ))
        };
        Ok(Self {
            host,
            port,
            security,
            credentials,
        })
    }
}

/// Longest one mail may take to hand over.
const SEND_LIMIT: Duration = Duration::from_secs(60);

/// Sends mail, or says there is nowhere to send it.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// From `TESSERA_SMTP_URL`, `TESSERA_MAIL_FROM` and `TESSERA_SMTP_CA_FILE` (a PEM file of
    /// extra roots to trust, for a server with a private certificate).
    pub fn new(
        url: Option<&str>,
        from: &str,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("TESSERA_MAIL_FROM is not an address: {e}"))?;
        let transport = match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(raw) => Some(Self::transport(&SmtpUrl::parse(raw)?, ca_file)?),
        };
        Ok(Self { transport, from })
    }

    fn transport(
        url: &SmtpUrl,
        ca_file: Option<&std::path::Path>,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let tls = || {
            let mut params = TlsParameters::builder(url.host.clone());
            if let Some(path) = ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("TESSERA_SMTP_CA_FILE {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| format!("TESSERA_SMTP_CA_FILE {}: {e}", path.display()))?;
                params = params.add_root_certificate(cert);
            }
            params
                .build()
                .map_err(|e| format!("TLS for {}: {e}", url.host))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .port(url.port)
            .timeout(Some(Duration::from_secs(30)));
        builder = match url.security {
            Security::Plain => builder.tls(Tls::None),
            Security::StartTls => builder.tls(Tls::Required(tls()?)),
            Security::Opportunistic => builder.tls(Tls::Opportunistic(tls()?)),
            Security::Wrapper => builder.tls(Tls::Wrapper(tls()?)),
        };
        if let Some((user, pass)) = &url.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(builder.build())
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends one message; `Err` says why the server (or the connection) refused it, and
    /// whether trying again could help.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        let Some(transport) = &self.transport else {
            return Err(SendError::NotConfigured);
        };
        // A bound on the whole exchange, whatever a stalled server does between commands.
        match tokio::time::timeout(SEND_LIMIT, transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(SendError::Refused(e.to_string())),
            Ok(Err(e)) => Err(SendError::Retry(e.to_string())),
            Err(_) => Err(SendError::Retry(format!(
                "no answer from the SMTP server within {} s",
                SEND_LIMIT.as_secs()
            ))),
        }
    }
}

#[derive(Debug)]
pub enum SendError {
    NotConfigured,
    /// A 5xx answer: the same mail would be refused again.
    Refused(String),
    /// Connection trouble or a 4xx answer.
    Retry(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_name_host_port_security_and_credentials() {
        let u = SmtpUrl::parse("smtp://127.0.0.1:2525").expect("plain");
        assert_eq!(
            (u.host.as_str(), u.port, u.security),
            ("127.0.0.1", 2525, Security::Plain)
        );
        assert_eq!(u.credentials, None);
        let u =
            SmtpUrl::parse("smtp://me%40x.org:p%3Ass@mail.x.org?tls=starttls").expect("starttls");
        assert_eq!((u.port, u.security), (587, Security::StartTls));
        assert_eq!(u.credentials, Some(("me@x.org".into(), "p:ss".into())));
        let u = SmtpUrl::parse("smtps://mail.x.org").expect("smtps");
        assert_eq!((u.port, u.security), (465, Security::Wrapper));
        assert_eq!(SmtpUrl::parse("smtp://[::1]:25").expect("v6").host, "::1");
        for bad in [
            "http://mail.x.org",
            "smtp://",
            "smtp://mail.x.org?tls=sometimes",
            "smtps://mail.x.org?tls=starttls",
            "smtp://mail.x.org?hello=1",
            "not a url",
        ] {
            assert!(SmtpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
