//! Key-value services: Redis through fred when `REDIS_URL` is set, in-process otherwise.

use fred::prelude::*;

#[derive(Clone)]
pub enum Kv {
    Memory,
    Redis(Client),
}

impl Kv {
    pub async fn connect(url: Option<&str>) -> Result<Self, Error> {
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            return Ok(Self::Memory);
        };
        let config = Config::from_url(url)?;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = std::time::Duration::from_secs(2);
                c.internal_command_timeout = std::time::Duration::from_secs(2);
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()?;
        // Connect in the background: an unreachable Redis must not stop the API from starting
        // (readiness reports it, and the client keeps reconnecting).
        let _task = client.connect();
        match tokio::time::timeout(std::time::Duration::from_secs(3), client.wait_for_connect())
            .await
        {
            Ok(Ok(())) => tracing::info!("connected to Redis"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Redis unreachable; retrying in the background")
            }
            Err(_) => tracing::warn!("Redis did not answer in 3 s; retrying in the background"),
        }
        Ok(Self::Redis(client))
    }

    /// Readiness: `Ok` when the store answers (always, for the in-process one).
    pub async fn ping(&self) -> Result<(), Error> {
        match self {
            Self::Memory => Ok(()),
            Self::Redis(client) => {
                let ping = client.ping::<String>(None);
                match tokio::time::timeout(std::time::Duration::from_secs(2), ping).await {
                    Ok(result) => result.map(|_| ()),
                    Err(_) => Err(Error::new(
                        ErrorKind::Timeout,
                        "Redis did not answer in 2 s",
                    )),
                }
            }
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis(_) => "redis",
        }
    }
}
