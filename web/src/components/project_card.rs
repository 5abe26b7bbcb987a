use leptos::prelude::*;

use super::format_date;
use crate::api::Project;

/// Number of `.tone-N` classes in style.css.
const THUMB_TONES: u32 = 8;

/// A project's thumbnail, or a tile with its initial in a colour derived from its short name.
#[component]
pub fn ProjectThumb(project: Project, #[prop(optional)] large: bool) -> impl IntoView {
    let class = if large { "thumb thumb-large" } else { "thumb" };
    match project.thumbnail_url() {
        Some(url) => view! {
            <div class=class>
                <img src=url.to_owned() alt="" loading="lazy" decoding="async"/>
            </div>
        }
        .into_any(),
        None => {
            // FNV-1a over the short name picks one of the stylesheet's tones, so a project keeps
            // its colour across visits and neighbours rarely share one.
            let tone = project.short_name.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            }) % THUMB_TONES;
            let initial = project
                .name
                .trim()
                .chars()
                .next()
                .map(|c| c.to_uppercase().collect::<String>())
                .unwrap_or_else(|| "?".to_owned());
            view! {
                <div class=format!("{class} thumb-generated tone-{tone}")>
                    <span aria-hidden="true">{initial}</span>
                </div>
            }
            .into_any()
        }
    }
}

#[component]
pub fn ProjectCard(project: Project) -> impl IntoView {
    let href = project.href();
    let name = project.name.clone();
    let description = match project.description() {
        "" => None,
        text => Some(text.to_owned()),
    };
    let created = project.created.as_deref().map(format_date);
    view! {
        <li class="card">
            <ProjectThumb project=project/>
            <div class="card-body">
                <h3 class="card-title">
                    // The title's link covers the whole card (see `.card-title a::after`).
                    <a href=href>{name}</a>
                </h3>
                {match description {
                    Some(text) => view! { <p class="card-desc">{text}</p> }.into_any(),
                    None => view! { <p class="card-desc muted">"No description yet."</p> }.into_any(),
                }}
            </div>
            <div class="card-meta">
                <span>{created.map(|date| format!("Created {date}"))}</span>
                <span class="card-cta" aria-hidden="true">"View →"</span>
            </div>
        </li>
    }
}
