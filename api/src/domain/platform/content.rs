//! What volunteers read about a project: its long description, blog, pages and field guide
//! (built from helping materials), rendered from Markdown to HTML that is safe to put in the
//! app's own page, and the blog's Atom feed.
//!
//! Markdown is rendered by pulldown-cmark, then everything it produced (raw HTML in the
//! Markdown included) goes through ammonia's allow-list: no script, style, frame, form or event
//! attribute survives, links keep only http(s), mailto and relative addresses and open without
//! the opener. Who may read what is the REST resources' rule (`crud::list`), so a draft post or
//! a draft project's content is seen here by exactly those who see it in `/api/blogpost`.

use std::collections::HashMap;
use std::sync::OnceLock;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value as Json, json};

use crate::domain::{
    Ctx,
    rest::crud::{self, ListParams},
    rest::resources,
};
use crate::error::{ApiError, ApiResult};
use crate::store::entities::{blogpost, helpingmaterial, page, project, user};

/// The longest Markdown text rendered at once (a preview, a post).
pub const MAX_MARKDOWN: usize = 200_000;
/// Latest posts the overview lists.
const LATEST_POSTS: u64 = 5;
/// The most posts one page of the blog (or the feed) holds.
pub const MAX_POSTS: u64 = 50;
/// The most pages and field-guide entries one project shows.
const MAX_ITEMS: u64 = 500;

fn sanitiser() -> &'static ammonia::Builder<'static> {
    static CLEAN: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEAN.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.link_rel(Some("noopener noreferrer nofollow ugc"))
            .url_schemes(["http", "https", "mailto"].into_iter().collect())
            .url_relative(ammonia::UrlRelative::PassThrough)
            .add_tag_attributes("td", ["align"])
            .add_tag_attributes("th", ["align"]);
        b
    })
}

/// Markdown (CommonMark with tables, strikethrough, task lists and footnotes) as sanitised HTML.
pub fn markdown(text: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    html::push_html(&mut out, Parser::new_ext(text, options));
    sanitiser().clean(&out).to_string()
}

/// A preview of Markdown an owner is writing; refuses texts above [`MAX_MARKDOWN`].
pub fn preview(text: &str) -> ApiResult<String> {
    if text.len() > MAX_MARKDOWN {
        return Err(ApiError::bad_request(format!(
            "text is {} bytes; at most {MAX_MARKDOWN} are rendered",
            text.len()
        )));
    }
    Ok(markdown(text))
}

fn info_text<'a>(info: Option<&'a Json>, keys: &[&str]) -> Option<&'a str> {
    let info = info?;
    keys.iter()
        .find_map(|k| info.get(*k).and_then(Json::as_str))
        .filter(|s| !s.trim().is_empty())
}

fn rows_of(project_id: i32, limit: u64, offset: u64) -> ListParams {
    ListParams {
        limit,
        offset,
        all: true,
        filters: vec![("project_id".into(), project_id.to_string())],
        ..ListParams::default()
    }
}

/// Display names of post authors (full name, else account name); restricted accounts stay
/// unnamed.
async fn authors(ctx: Ctx<'_>, posts: &[blogpost::Model]) -> ApiResult<HashMap<i32, String>> {
    let ids: Vec<i32> = posts.iter().filter_map(|p| p.user_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(&ctx.infra.read_db)
        .await?;
    Ok(users
        .into_iter()
        .filter(|u| !u.restrict)
        .map(|u| {
            let name = if u.fullname.trim().is_empty() {
                u.name
            } else {
                u.fullname
            };
            (u.id, name)
        })
        .collect())
}

/// An object without its null members (absent, as the spec's shapes say).
fn compact(mut value: Json) -> Json {
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    value
}

fn post_json(p: &blogpost::Model, authors: &HashMap<i32, String>, body: bool) -> Json {
    let mut out = json!({
        "id": p.id,
        "project_id": p.project_id,
        "title": p.title,
        "created": p.created,
        "updated": p.updated,
        "published": p.published,
        "user_id": p.user_id,
        "author": p.user_id.and_then(|u| authors.get(&u)),
        "media_url": p.media_url,
    });
    if body {
        out["html"] = json!(markdown(&p.body));
    } else {
        out["excerpt"] = json!(excerpt(&p.body));
    }
    compact(out)
}

/// The first words of a post as plain text, for lists: text only, never what raw HTML in it
/// holds (a script's or a style's content).
fn excerpt(body: &str) -> String {
    use pulldown_cmark::{Event, Parser, TagEnd};
    let mut text = String::new();
    let mut hidden = false;
    for event in Parser::new(body) {
        match event {
            Event::Html(h) | Event::InlineHtml(h) => {
                let h = h.to_ascii_lowercase();
                if h.contains("<script") || h.contains("<style") {
                    hidden = true;
                }
                if h.contains("</script") || h.contains("</style") {
                    hidden = false;
                }
            }
            Event::Text(t) | Event::Code(t) if !hidden => text.push_str(&t),
            Event::End(
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link,
            ) => {}
            Event::SoftBreak | Event::HardBreak | Event::End(_) => text.push(' '),
            _ => {}
        }
        if text.len() > 400 {
            break;
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::new();
    for w in words {
        if out.len() + w.len() > 240 {
            out.push('…');
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// The project's posts the caller may read, newest first.
async fn read_posts(
    ctx: Ctx<'_>,
    project_id: i32,
    limit: u64,
    offset: u64,
) -> ApiResult<Vec<blogpost::Model>> {
    let mut params = rows_of(project_id, limit, offset);
    params.orderby = Some("created".into());
    params.desc = true;
    crud::list::<resources::Blogpost>(ctx, &params).await
}

/// One page of the blog: `{items, has_more}` with each post rendered.
pub async fn posts(
    ctx: Ctx<'_>,
    project: &project::Model,
    limit: u64,
    offset: u64,
) -> ApiResult<Json> {
    let limit = limit.clamp(1, MAX_POSTS);
    let mut rows = read_posts(ctx, project.id, limit + 1, offset).await?;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let names = authors(ctx, &rows).await?;
    Ok(json!({
        "items": rows.iter().map(|p| post_json(p, &names, true)).collect::<Vec<_>>(),
        "has_more": has_more,
    }))
}

/// One post, rendered; 404 when it is not this project's or the caller may not read it.
pub async fn post(ctx: Ctx<'_>, project: &project::Model, id: i32) -> ApiResult<Json> {
    let mut params = rows_of(project.id, 1, 0);
    params.filters.push(("id".into(), id.to_string()));
    let rows = crud::list::<resources::Blogpost>(ctx, &params).await?;
    let post = rows.into_iter().next().ok_or(ApiError::NotFound)?;
    let names = authors(ctx, std::slice::from_ref(&post)).await?;
    Ok(post_json(&post, &names, true))
}

fn page_json(p: &page::Model, body: bool) -> Json {
    let info = p.info.as_ref();
    let mut out = json!({
        "id": p.id,
        "slug": p.slug,
        "title": info_text(info, &["title", "name"]).unwrap_or(&p.slug),
        "media_url": p.media_url,
    });
    if body {
        out["html"] = json!(markdown(
            info_text(info, &["body", "content", "text", "html"]).unwrap_or("")
        ));
    }
    compact(out)
}

/// One page of the project by its slug, rendered.
pub async fn page(ctx: Ctx<'_>, project: &project::Model, slug: &str) -> ApiResult<Json> {
    let mut params = rows_of(project.id, 1, 0);
    params.filters.push(("slug".into(), slug.to_owned()));
    let rows = crud::list::<resources::Page>(ctx, &params).await?;
    let page = rows.into_iter().next().ok_or(ApiError::NotFound)?;
    Ok(page_json(&page, true))
}

fn guide_json(m: &helpingmaterial::Model) -> Json {
    let info = m.info.as_ref();
    compact(json!({
        "id": m.id,
        "title": info_text(info, &["title", "name", "label"]).unwrap_or("Untitled"),
        "html": markdown(info_text(info, &["body", "content", "text", "description"]).unwrap_or("")),
        "media_url": m.media_url,
        "priority": m.priority,
    }))
}

/// Everything a project page and the task page show besides the project itself: the long
/// description, whether there is a tutorial, the latest posts, the pages and the field guide.
pub async fn overview(ctx: Ctx<'_>, project: &project::Model) -> ApiResult<Json> {
    let latest = read_posts(ctx, project.id, LATEST_POSTS + 1, 0).await?;
    let has_more = latest.len() as u64 > LATEST_POSTS;
    let latest = &latest[..latest.len().min(LATEST_POSTS as usize)];
    let names = authors(ctx, latest).await?;

    let mut page_params = rows_of(project.id, MAX_ITEMS, 0);
    page_params.orderby = Some("slug".into());
    let pages = crud::list::<resources::Page>(ctx, &page_params).await?;

    let mut guide =
        crud::list::<resources::HelpingMaterial>(ctx, &rows_of(project.id, MAX_ITEMS, 0)).await?;
    // Highest priority first (PYBOSSA's 0..1), then in the order they were added.
    guide.sort_by(|a, b| b.priority.total_cmp(&a.priority).then(a.id.cmp(&b.id)));

    let tutorial = project
        .info
        .as_ref()
        .and_then(|i| i.get("tutorial"))
        .and_then(Json::as_str)
        .is_some_and(|t| !t.trim().is_empty());
    Ok(json!({
        "project_id": project.id,
        "description_html": markdown(project.long_description.as_deref().unwrap_or("")),
        "tutorial": tutorial,
        "posts": latest.iter().map(|p| post_json(p, &names, false)).collect::<Vec<_>>(),
        "more_posts": has_more,
        "pages": pages.iter().map(|p| page_json(p, false)).collect::<Vec<_>>(),
        "field_guide": guide.iter().map(guide_json).collect::<Vec<_>>(),
    }))
}

/// PYBOSSA's naive UTC timestamps as RFC 3339 instants.
fn instant(ts: &str) -> atom_syndication::FixedDateTime {
    use chrono::Offset;
    let utc = chrono::Utc.fix();
    chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|naive| naive.and_utc().with_timezone(&utc))
        .unwrap_or_else(|_| chrono::DateTime::UNIX_EPOCH.with_timezone(&utc))
}

/// The blog's Atom feed: the latest published posts, each with its HTML. `site` is the public
/// base URL the entries link to.
pub async fn feed(ctx: Ctx<'_>, project: &project::Model, site: &str) -> ApiResult<String> {
    use atom_syndication::{Content, Entry, Feed, Link, Person, Text};
    let rows: Vec<blogpost::Model> = read_posts(ctx, project.id, MAX_POSTS, 0)
        .await?
        .into_iter()
        .filter(|p| p.published)
        .collect();
    let names = authors(ctx, &rows).await?;
    let blog = format!("{site}/project/{}/blog", project.short_name);
    let link = |href: String, rel: &str, kind: &str| Link {
        href,
        rel: rel.into(),
        mime_type: Some(kind.into()),
        ..Link::default()
    };
    let person = |name: &str| Person {
        name: name.into(),
        ..Person::default()
    };
    let entries: Vec<Entry> = rows
        .iter()
        .map(|p| {
            let href = format!("{site}/project/{}/{}", project.short_name, p.id);
            let author = p
                .user_id
                .and_then(|u| names.get(&u))
                .map_or(project.name.as_str(), String::as_str);
            Entry {
                id: href.clone(),
                title: Text::plain(p.title.clone()),
                updated: instant(&p.updated),
                published: Some(instant(&p.created)),
                authors: vec![person(author)],
                links: vec![link(href, "alternate", "text/html")],
                summary: Some(Text::plain(excerpt(&p.body))),
                content: Some(Content {
                    content_type: Some("html".into()),
                    value: Some(markdown(&p.body)),
                    ..Content::default()
                }),
                ..Entry::default()
            }
        })
        .collect();
    let updated = rows
        .iter()
        .map(|p| instant(&p.updated))
        .max()
        .unwrap_or_else(|| instant(&project.updated));
    let feed = Feed {
        id: blog.clone(),
        title: Text::plain(format!("{}: blog", project.name)),
        subtitle: Some(Text::plain(project.description.clone())),
        updated,
        authors: vec![person(&project.name)],
        links: vec![
            link(blog, "alternate", "text/html"),
            link(
                format!("{site}/api/project/{}/blog.atom", project.id),
                "self",
                "application/atom+xml",
            ),
        ],
        entries,
        ..Feed::default()
    };
    Ok(feed.to_string())
}
