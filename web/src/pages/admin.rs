//! `/admin`: accounts, categories and featured projects (site admins).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::{format_date, loaded};
use crate::session::use_session;

#[component]
pub fn Admin() -> impl IntoView {
    crate::set_title(Some("Administration"));
    let session = use_session();
    view! {
        <div class="container section">
            {move || match session.account.get() {
                Some(me) if me.admin => view! {
                    <h1>"Administration"</h1>
                    <div class="admin">
                        <Users/>
                        <Categories/>
                        <Featured/>
                    </div>
                }.into_any(),
                _ if !session.checked.get() => view! { <p role="status">"Loading…"</p> }.into_any(),
                _ => view! {
                    <h1>"Administration"</h1>
                    <p>"This page is for the site's administrators."</p>
                    <a class="button" href="/account/signin?next=/admin">"Sign in"</a>
                }.into_any(),
            }}
        </div>
    }
}

/// Reports the outcome of an admin action.
fn outcome(result: Result<(), api::ApiError>, message: WriteSignal<Option<String>>) {
    if let Err(e) = result {
        message.set(Some(e.to_string()));
    }
}

#[component]
fn Users() -> impl IntoView {
    let offset = RwSignal::new(0u64);
    let list = LocalResource::new(move || api::users(offset.get()));
    let (error, set_error) = signal(None::<String>);
    view! {
        <section aria-labelledby="users-h">
            <h2 id="users-h" class="section-title">"Accounts"</h2>
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            {loaded(list, "the accounts", move |users| view! {
                <div class="table-wrap">
                    <table class="table">
                        <thead><tr>
                            <th scope="col">"Name"</th><th scope="col">"E-mail"</th>
                            <th scope="col">"Joined"</th><th scope="col">"Administrator"</th>
                            <th scope="col">"Enabled"</th>
                        </tr></thead>
                        <tbody>
                            {users.into_iter().map(|u| {
                                let id = u.id;
                                let label = format!("{} is an administrator", u.name);
                                let enabled_label = format!("{} may sign in", u.name);
                                let flag = move |flag: &'static str| move |ev: leptos::ev::Event| {
                                    let on = event_target_checked(&ev);
                                    spawn_local(async move {
                                        outcome(api::set_user_flag(id, flag, on).await, set_error);
                                        list.refetch();
                                    });
                                };
                                view! {
                                    <tr>
                                        <td><a href=format!("/account/{}", u.name)>{u.name.clone()}</a></td>
                                        <td>{u.email_addr.clone().unwrap_or_default()}</td>
                                        <td>{u.created.as_deref().map(format_date).unwrap_or_default()}</td>
                                        <td>
                                            <input type="checkbox" aria-label=label prop:checked=u.admin
                                                on:change=flag("admin")/>
                                        </td>
                                        <td>
                                            <input type="checkbox" aria-label=enabled_label prop:checked=u.enabled
                                                on:change=flag("enabled")/>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any())}
            <div class="pager">
                <button type="button" class="button button-quiet" disabled=move || offset.get() == 0
                    on:click=move |_| offset.update(|o| *o = o.saturating_sub(50))>"Previous"</button>
                <button type="button" class="button button-quiet"
                    on:click=move |_| offset.update(|o| *o += 50)>"Next"</button>
            </div>
        </section>
    }
}

#[component]
fn Categories() -> impl IntoView {
    let list = LocalResource::new(api::categories);
    let name = RwSignal::new(String::new());
    let short = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let (error, set_error) = signal(None::<String>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            let created = api::create_category(
                name.get_untracked(),
                short.get_untracked(),
                description.get_untracked(),
            )
            .await;
            match created {
                Ok(_) => {
                    name.set(String::new());
                    short.set(String::new());
                    description.set(String::new());
                    set_error.set(None);
                    list.refetch();
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
        });
    };
    let field = move |label: &'static str, value: RwSignal<String>| {
        view! {
            <label class="field">
                <span>{label}</span>
                <input type="text" required prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <section aria-labelledby="categories-h">
            <h2 id="categories-h" class="section-title">"Categories"</h2>
            {loaded(list, "the categories", move |cats| view! {
                <ul class="contributions">
                    {cats.into_iter().map(|c| {
                        let id = c.id;
                        view! {
                            <li>
                                <span>{c.name.clone()} " " <code>{c.short_name.clone()}</code></span>
                                <button type="button" class="button button-quiet" on:click=move |_| {
                                    spawn_local(async move {
                                        outcome(api::delete_category(id).await, set_error);
                                        list.refetch();
                                    });
                                }>"Delete"</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any())}
            <form class="form narrow" on:submit=add>
                {field("Name", name)}
                {field("Short name", short)}
                {field("Description", description)}
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit" class="button">"Add the category"</button>
            </form>
        </section>
    }
}

#[component]
fn Featured() -> impl IntoView {
    let list = LocalResource::new(api::list_projects);
    let (error, set_error) = signal(None::<String>);
    view! {
        <section aria-labelledby="featured-h">
            <h2 id="featured-h" class="section-title">"Featured projects"</h2>
            <p class="muted">"Featured projects come first on the home page."</p>
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            {loaded(list, "the projects", move |projects| view! {
                <ul class="contributions">
                    {projects.into_iter().map(|p| {
                        let id = p.id;
                        view! {
                            <li>
                                <a href=p.href()>{p.name.clone()}</a>
                                <label class="check">
                                    <input type="checkbox" prop:checked=p.featured == Some(true)
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            spawn_local(async move {
                                                outcome(api::set_featured(id, on).await, set_error);
                                                list.refetch();
                                            });
                                        }/>
                                    " Featured"
                                </label>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any())}
        </section>
    }
}
