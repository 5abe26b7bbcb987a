//! `/admin`: accounts, categories, featured projects, announcements and the mail outbox (site
//! admins).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::{Pager, announcement_text, format_date, loaded};
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
                        <Announcements/>
                        <Outbox/>
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
            <Pager offset=offset step=50 more=Signal::derive(|| true)/>
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

/// Site announcements: written with a live preview of the banner, published or kept as drafts.
#[component]
fn Announcements() -> impl IntoView {
    let list = LocalResource::new(api::all_announcements);
    let editing = RwSignal::new(None::<Option<i64>>);
    let title = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let published = RwSignal::new(true);
    let (error, set_error) = signal(None::<String>);
    let edit = move |a: Option<api::Announcement>| {
        set_error.set(None);
        title.set(a.as_ref().and_then(|a| a.title.clone()).unwrap_or_default());
        body.set(a.as_ref().and_then(|a| a.body.clone()).unwrap_or_default());
        published.set(a.as_ref().is_none_or(|a| a.published));
        editing.set(Some(a.map(|a| a.id)));
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(id) = editing.get_untracked() else {
            return;
        };
        let payload = serde_json::json!({
            "title": title.get_untracked().trim(),
            "body": body.get_untracked().trim(),
            "published": published.get_untracked(),
        });
        spawn_local(async move {
            match api::save_announcement(id, payload).await {
                Ok(()) => {
                    editing.set(None);
                    list.refetch();
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <section aria-labelledby="announcements-h">
            <h2 id="announcements-h" class="section-title">"Announcements"</h2>
            <p class="muted">"The newest published one shows above every page until a browser dismisses it."</p>
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            {loaded(list, "the announcements", move |all| {
                if all.is_empty() {
                    return view! { <p class="muted">"No announcements yet."</p> }.into_any();
                }
                view! {
                    <ul class="editor-rows">
                        {all.into_iter().map(|a| {
                            let id = a.id;
                            let label = a.title.clone().filter(|t| !t.is_empty())
                                .or_else(|| a.body.clone()).unwrap_or_default();
                            let confirm = format!("Delete the announcement “{label}”?");
                            let row = a.clone();
                            view! {
                                <li>
                                    <strong>{label}</strong>
                                    <span class="post-meta">
                                        {a.created.as_deref().map(format_date).unwrap_or_default()}
                                        {(!a.published).then_some(" · draft")}
                                    </span>
                                    <span class="row-actions">
                                        <button type="button" class="button button-quiet"
                                            on:click=move |_| edit(Some(row.clone()))>"Edit"</button>
                                        <button type="button" class="button button-quiet" on:click=move |_| {
                                            let ok = web_sys::window()
                                                .and_then(|w| w.confirm_with_message(&confirm).ok())
                                                .unwrap_or(false);
                                            if ok {
                                                spawn_local(async move {
                                                    outcome(api::delete_announcement(id).await, set_error);
                                                    list.refetch();
                                                });
                                            }
                                        }>"Delete"</button>
                                    </span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }
                .into_any()
            })}
            {move || match editing.get() {
                None => view! {
                    <button type="button" class="button" on:click=move |_| edit(None)>"New announcement"</button>
                }.into_any(),
                Some(id) => view! {
                    <form class="form narrow" on:submit=save>
                        <h3>{if id.is_some() { "Edit the announcement" } else { "New announcement" }}</h3>
                        <label class="field">
                            <span>"Title"</span>
                            <input type="text" prop:value=title on:input=move |ev| title.set(event_target_value(&ev))/>
                        </label>
                        <label class="field">
                            <span>"Text"</span>
                            <textarea rows=3 required prop:value=body on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                        </label>
                        <label class="check">
                            <input type="checkbox" prop:checked=published
                                on:change=move |ev| published.set(event_target_checked(&ev))/>
                            " Published (a draft is seen by administrators only)"
                        </label>
                        <div class="announcement announcement-preview" role="region" aria-label="Banner preview">
                            <div class="announcement-inner">
                                {move || announcement_text(Some(title.get()), body.get())}
                            </div>
                        </div>
                        <p>
                            <button type="submit" class="button">"Save the announcement"</button>
                            " "
                            <button type="button" class="button button-quiet" on:click=move |_| editing.set(None)>"Cancel"</button>
                        </p>
                    </form>
                }.into_any(),
            }}
        </section>
    }
}

/// Mail the site sent, or keeps here when it has no SMTP server: with the links in it, so that
/// an admin of a site without mail can pass a reset link on.
#[component]
fn Outbox() -> impl IntoView {
    let status = RwSignal::new(String::new());
    let offset = RwSignal::new(0u64);
    let list = LocalResource::new(move || api::mails(status.get(), offset.get()));
    let (error, set_error) = signal(None::<String>);
    view! {
        <section aria-labelledby="outbox-h">
            <h2 id="outbox-h" class="section-title">"Mail"</h2>
            <p class="muted">
                "Without " <code>"TESSERA_SMTP_URL"</code> " mail is not sent but kept here as "
                <em>"outbox"</em> ". Sent mail keeps no body. Mail is kept 30 days."
            </p>
            <label class="field">
                <span>"Show"</span>
                <select on:change=move |ev| { offset.set(0); status.set(event_target_value(&ev)); }>
                    <option value="">"All mail"</option>
                    <option value="outbox">"Outbox"</option>
                    <option value="queued">"Waiting to be sent"</option>
                    <option value="failed">"Failed"</option>
                    <option value="sent">"Sent"</option>
                </select>
            </label>
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            {loaded(list, "the mail", move |page| {
                if page.items.is_empty() {
                    return view! { <p class="muted">"No mail."</p> }.into_any();
                }
                view! {
                    <p class="muted">{format!("{} in all", page.total)}</p>
                    <div class="table-wrap">
                        <table class="table">
                            <thead><tr>
                                <th scope="col">"When"</th><th scope="col">"To"</th>
                                <th scope="col">"Subject"</th><th scope="col">"Status"</th>
                                <th scope="col"></th>
                            </tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|m| {
                                    let id = m.id;
                                    let again = matches!(m.status.as_str(), "outbox" | "failed");
                                    let badge = format!("badge badge-{}", if m.status == "sent" { "delivered" } else { m.status.as_str() });
                                    let resend = move |_| spawn_local(async move {
                                        outcome(api::resend_mail(id).await, set_error);
                                        list.refetch();
                                    });
                                    view! {
                                        <tr>
                                            <td>{format_date(&m.created)}</td>
                                            <td>{m.to_addr.clone()}</td>
                                            <td>
                                                {m.text_body.clone().map_or_else(
                                                    || view! { <span>{m.subject.clone()}</span> }.into_any(),
                                                    |body| view! {
                                                        <details>
                                                            <summary>{m.subject.clone()}</summary>
                                                            <pre class="cell-data mail-body">{body}</pre>
                                                        </details>
                                                    }.into_any(),
                                                )}
                                            </td>
                                            <td>
                                                <span class=badge>{m.status.clone()}</span>
                                                {m.last_error.clone().map(|e| view! { <div class="muted">{e}</div> })}
                                            </td>
                                            <td>
                                                {again.then(|| view! {
                                                    <button type="button" class="button button-quiet" on:click=resend>"Send again"</button>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            })}
            <Pager offset=offset step=20 more=Signal::derive(move || {
                list.get().and_then(Result::ok).is_some_and(|p| offset.get() + 20 < p.total)
            })/>
        </section>
    }
}
