//! A project's webhook: settings, secret, delivery log, redelivery and ping (owners, admins).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

use super::{ApiTags, schemas};
use crate::ids::ProjectId;
use crate::{
    auth::Caller,
    domain::{
        platform::webhooks,
        rest::resources::{is_owner, load_project},
    },
    error::{ApiError, ApiResult},
    state::AppState,
    store::entities::{project, webhook_delivery, webhook_endpoint},
};

impl From<webhook_delivery::Model> for schemas::WebhookDelivery {
    fn from(d: webhook_delivery::Model) -> Self {
        Self {
            id: d.id.into(),
            project_id: d.project_id.into(),
            event: d.event,
            webhook_id: d.message_id,
            status: d.status,
            attempts: d.attempts.into(),
            response_status_code: d.response_status_code.map(Into::into),
            response: d.response,
            payload: d.payload,
            created: d.created,
            updated: d.updated,
        }
    }
}

fn settings(p: &project::Model, ep: webhook_endpoint::Model) -> schemas::WebhookSettings {
    let events = ep
        .events
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    schemas::WebhookSettings {
        url: p.webhook.clone().filter(|u| !u.trim().is_empty()),
        events,
        secret: ep.secret,
    }
}

#[derive(ApiResponse)]
pub enum Queued {
    /// The delivery is queued; follow it in the delivery log.
    #[oai(status = 202)]
    Accepted(Json<schemas::WebhookDelivery>),
}

/// The project, if the caller owns it or is an admin.
async fn owned_project(state: &AppState, caller: &Caller, id: i32) -> ApiResult<project::Model> {
    let p = load_project(&state.infra.db, ProjectId(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    if !(caller.is_admin() || is_owner(caller, &p)) {
        return Err(ApiError::denied(caller.is_authenticated()));
    }
    Ok(p)
}

pub struct WebhookApi;

#[OpenApi(tag = "ApiTags::Webhook")]
impl WebhookApi {
    /// The project's webhook URL, events and signing secret.
    ///
    /// Every request to the URL carries `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature` per Standard Webhooks: `v1,` + base64 HMAC-SHA256 of
    /// `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64 part of the secret.
    #[oai(path = "/project/:id/webhook", method = "get")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<Json<schemas::WebhookSettings>, ApiError> {
        let p = owned_project(&state, &caller, id.0).await?;
        let ep = Box::pin(webhooks::endpoint(&state.infra.db, p.id)).await?;
        Ok(Json(settings(&p, ep)))
    }

    /// Change the URL and/or the events sent.
    ///
    /// Events: `task.completed` (PYBOSSA's fields plus the result), `project.completed`,
    /// `taskrun.created`. A new project sends the first two.
    #[oai(path = "/project/:id/webhook", method = "put")]
    async fn update(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        body: Json<schemas::WebhookUpdate>,
    ) -> Result<Json<schemas::WebhookSettings>, ApiError> {
        let p = owned_project(&state, &caller, id.0).await?;
        let url = match body.0.url {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(u) => Some(Some(u)),
        };
        let change = webhooks::SettingsChange {
            url,
            events: body.0.events,
        };
        let (p, ep) = Box::pin(webhooks::change_settings(
            &state.infra,
            state.local(),
            &p,
            change,
        ))
        .await?;
        Ok(Json(settings(&p, ep)))
    }

    /// Replace the signing secret; deliveries from now on are signed with the new one.
    #[oai(path = "/project/:id/webhook/secret", method = "post")]
    async fn rotate(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<Json<schemas::WebhookSettings>, ApiError> {
        let p = owned_project(&state, &caller, id.0).await?;
        let ep = Box::pin(webhooks::configure(&state.infra.db, p.id, None, true)).await?;
        Ok(Json(settings(&p, ep)))
    }

    /// Send a `ping` event now, to check the receiver and its signature check.
    #[oai(path = "/project/:id/webhook/ping", method = "post")]
    async fn ping(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<Queued, ApiError> {
        let p = owned_project(&state, &caller, id.0).await?;
        let d = Box::pin(webhooks::ping(&state.infra, &p)).await?;
        Ok(Queued::Accepted(Json(d.into())))
    }

    /// The delivery log, newest first.
    #[oai(path = "/project/:id/webhook/deliveries", method = "get")]
    async fn deliveries(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        /// `pending`, `retrying`, `delivered` or `failed`.
        status: Query<Option<String>>,
        /// At most 100 (default 20).
        limit: Query<Option<u64>>,
        offset: Query<Option<u64>>,
    ) -> Result<Json<Vec<schemas::WebhookDelivery>>, ApiError> {
        let p = owned_project(&state, &caller, id.0).await?;
        let list = webhooks::deliveries(
            &state.infra.db,
            p.id,
            status.0.as_deref(),
            limit.0.unwrap_or(20).min(100),
            offset.0.unwrap_or(0).min(1_000_000_000),
        )
        .await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// One delivery with its payload and the receiver's last answer.
    #[oai(path = "/project/:id/webhook/deliveries/:delivery_id", method = "get")]
    async fn delivery(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        delivery_id: Path<i32>,
    ) -> Result<Json<schemas::WebhookDelivery>, ApiError> {
        let p = owned_project(&state, &caller, id.0).await?;
        Ok(Json(
            webhooks::delivery(&state.infra.db, p.id, delivery_id.0)
                .await?
                .into(),
        ))
    }

    /// Send a delivery again (same `webhook-id`, fresh attempts), whatever its status.
    #[oai(
        path = "/project/:id/webhook/deliveries/:delivery_id/redeliver",
        method = "post"
    )]
    async fn redeliver(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        delivery_id: Path<i32>,
    ) -> Result<Queued, ApiError> {
        let p = owned_project(&state, &caller, id.0).await?;
        let d = webhooks::delivery(&state.infra.db, p.id, delivery_id.0).await?;
        let d = Box::pin(webhooks::redeliver(&state.infra, d)).await?;
        Ok(Queued::Accepted(Json(d.into())))
    }
}
