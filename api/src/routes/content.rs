//! What volunteers read, rendered: a project's description, blog (with its Atom feed), pages
//! and field guide, and Markdown previews for owners writing them. The raw rows stay at
//! PYBOSSA's `/api/blogpost`, `/api/page` and `/api/helpingmaterial`.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{Json, PlainText},
};

use super::{ApiTags, common::JsonOf};
use crate::{
    auth::Caller,
    domain::{platform::content, rest::resources},
    error::ApiError,
    state::AppState,
    store::entities::project,
};

/// A blog post, its Markdown body rendered to sanitised HTML (`html`) or, in lists of latest
/// posts, as a plain-text `excerpt`.
#[derive(Object)]
pub struct Post {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub created: String,
    pub updated: String,
    /// Drafts are seen only by the project's owners and admins.
    pub published: bool,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<i64>,
    /// The author's full name (or account name).
    #[oai(skip_serializing_if_is_none)]
    pub author: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub media_url: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub html: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub excerpt: Option<String>,
}

/// One page of a project's blog, newest first.
#[derive(Object)]
pub struct PostPage {
    pub items: Vec<Post>,
    /// Whether older posts follow (ask again with a larger `offset`).
    pub has_more: bool,
}

/// A project page (`/api/page`): `info.title` (else the slug) and `info.body` as Markdown.
#[derive(Object)]
pub struct PageContent {
    pub id: i64,
    pub slug: String,
    pub title: String,
    #[oai(skip_serializing_if_is_none)]
    pub media_url: Option<String>,
    /// Only when one page is asked for.
    #[oai(skip_serializing_if_is_none)]
    pub html: Option<String>,
}

/// A field guide entry, from a helping material: `info.title` (or `name`), `info.body` (or
/// `content`, `text`, `description`) as Markdown, and its image (`media_url`).
#[derive(Object)]
pub struct GuideEntry {
    pub id: i64,
    pub title: String,
    pub html: String,
    #[oai(skip_serializing_if_is_none)]
    pub media_url: Option<String>,
    /// Higher first (0 to 1).
    pub priority: f64,
}

/// What a project shows volunteers besides its fields.
#[derive(Object)]
pub struct ProjectContent {
    pub project_id: i64,
    /// `long_description` as sanitised HTML.
    pub description_html: String,
    /// Whether `info.tutorial` holds a tutorial.
    pub tutorial: bool,
    /// The latest posts (at most 5), with excerpts.
    pub posts: Vec<Post>,
    /// Whether the blog has older posts.
    pub more_posts: bool,
    pub pages: Vec<PageContent>,
    pub field_guide: Vec<GuideEntry>,
}

/// Markdown to preview.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MarkdownText {
    /// At most 200,000 bytes.
    pub text: String,
}

/// Rendered, sanitised HTML.
#[derive(Object)]
pub struct RenderedHtml {
    pub html: String,
}

#[derive(ApiResponse)]
pub enum AtomFeed {
    /// The blog's Atom feed (RFC 4287): the latest 50 published posts.
    #[oai(status = 200, content_type = "application/atom+xml")]
    Ok(PlainText<String>),
}

/// The project by id or short name, if the caller may read it (401/403 otherwise, as the
/// project itself).
async fn readable(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<project::Model, ApiError> {
    let project = resources::project_by_id_or_name(&state.infra.db, key).await?;
    if !resources::project_visible(caller, &project) {
        return Err(ApiError::denied(caller.is_authenticated()));
    }
    Ok(project)
}

pub struct ContentApi;

#[OpenApi(tag = "ApiTags::Content")]
impl ContentApi {
    /// What a project shows volunteers (by id or short name): the long description rendered
    /// from Markdown, whether it has a tutorial, its latest blog posts, its pages and its field
    /// guide (helping materials, highest priority first). Everything is sanitised HTML: no
    /// script, style, frame or event attribute, links only to http(s), mailto or this site.
    #[oai(path = "/project/:id/content", method = "get")]
    async fn overview(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Project id or short name.
        id: Path<String>,
    ) -> Result<JsonOf<ProjectContent>, ApiError> {
        let project = readable(&state, &caller, &id.0).await?;
        let ctx = state.ctx(&caller);
        Ok(JsonOf::new(
            Box::pin(content::overview(ctx, &project)).await?,
        ))
    }

    /// A project's blog, newest first, each post rendered from Markdown. Drafts only for the
    /// project's owners and admins.
    #[oai(path = "/project/:id/blog", method = "get")]
    async fn blog(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Project id or short name.
        id: Path<String>,
        /// Posts per page (1 to 50, default 10).
        limit: Query<Option<u64>>,
        /// Posts to skip.
        offset: Query<Option<u64>>,
    ) -> Result<JsonOf<PostPage>, ApiError> {
        let project = readable(&state, &caller, &id.0).await?;
        let ctx = state.ctx(&caller);
        let page = content::posts(ctx, &project, limit.0.unwrap_or(10), offset.0.unwrap_or(0));
        Ok(JsonOf::new(Box::pin(page).await?))
    }

    /// One blog post, rendered (404 when it is not this project's, or a draft the caller may
    /// not read).
    #[oai(path = "/project/:id/blog/:post_id", method = "get")]
    async fn post(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Project id or short name.
        id: Path<String>,
        post_id: Path<i32>,
    ) -> Result<JsonOf<Post>, ApiError> {
        let project = readable(&state, &caller, &id.0).await?;
        let ctx = state.ctx(&caller);
        Ok(JsonOf::new(
            Box::pin(content::post(ctx, &project, post_id.0)).await?,
        ))
    }

    /// The blog's Atom feed: the latest 50 published posts with their HTML, linking to the
    /// post pages (`/project/{short_name}/{post_id}`).
    #[oai(path = "/project/:id/blog.atom", method = "get")]
    async fn feed(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        req: &Request,
        /// Project id or short name.
        id: Path<String>,
    ) -> Result<AtomFeed, ApiError> {
        let project = readable(&state, &caller, &id.0).await?;
        let site = super::common::base_url(req, state.infra.config.public_url.as_deref());
        let ctx = state.ctx(&caller);
        Ok(AtomFeed::Ok(PlainText(
            Box::pin(content::feed(ctx, &project, &site)).await?,
        )))
    }

    /// One of a project's pages by its slug, rendered.
    #[oai(path = "/project/:id/page/:slug", method = "get")]
    async fn page(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Project id or short name.
        id: Path<String>,
        slug: Path<String>,
    ) -> Result<JsonOf<PageContent>, ApiError> {
        let project = readable(&state, &caller, &id.0).await?;
        let ctx = state.ctx(&caller);
        Ok(JsonOf::new(
            Box::pin(content::page(ctx, &project, &slug.0)).await?,
        ))
    }

    /// Markdown rendered as the project page renders it, for previews while writing
    /// (signed-in callers).
    #[oai(path = "/markdown", method = "post")]
    async fn markdown(
        &self,
        caller: Caller,
        body: Json<MarkdownText>,
    ) -> Result<Json<RenderedHtml>, ApiError> {
        if !caller.is_authenticated() {
            return Err(ApiError::denied(false));
        }
        Ok(Json(RenderedHtml {
            html: content::preview(&body.0.text)?,
        }))
    }
}
