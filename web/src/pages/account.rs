//! Sign-up, sign-in and the volunteer's own account page.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api;
use crate::session::use_session;

/// Where to go after signing in: `?next=` when it is a path inside the app.
fn next_path() -> String {
    let query = use_query_map();
    query
        .read_untracked()
        .get("next")
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or_else(|| "/".to_owned())
}

#[component]
pub fn SignIn() -> impl IntoView {
    crate::set_title(Some("Sign in"));
    let session = use_session();
    let navigate = use_navigate();
    let next = next_path();
    let (name, set_name) = signal(String::new());
    let (password, set_password) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let register_href = format!(
        "/account/register?next={}",
        js_sys::encode_uri_component(&next)
    );
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_busy.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        let next = next.clone();
        spawn_local(async move {
            match api::login(name.get_untracked(), password.get_untracked()).await {
                Ok(account) => {
                    session.account.set(Some(account));
                    navigate(&next, Default::default());
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
            set_busy.set(false);
        });
    };
    view! {
        <div class="container section narrow">
            <h1>"Sign in"</h1>
            <form class="form" on:submit=on_submit>
                <label class="field">
                    <span>"Name or e-mail"</span>
                    <input type="text" name="name" autocomplete="username" required
                        prop:value=name on:input=move |ev| set_name.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"Password"</span>
                    <input type="password" name="password" autocomplete="current-password" required
                        prop:value=password on:input=move |ev| set_password.set(event_target_value(&ev))/>
                </label>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit" class="button" disabled=busy>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
            <p class="muted">"New here? " <a href=register_href>"Create an account"</a></p>
        </div>
    }
}

#[component]
pub fn SignUp() -> impl IntoView {
    crate::set_title(Some("Create an account"));
    let session = use_session();
    let navigate = use_navigate();
    let next = next_path();
    let name = RwSignal::new(String::new());
    let fullname = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if password.get_untracked().chars().count() < 8 {
            set_error.set(Some("The password needs at least 8 characters.".into()));
            return;
        }
        set_busy.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        let next = next.clone();
        spawn_local(async move {
            let created = api::register(
                name.get_untracked(),
                fullname.get_untracked(),
                email.get_untracked(),
                password.get_untracked(),
            )
            .await;
            match created {
                Ok(account) => {
                    session.account.set(Some(account));
                    navigate(&next, Default::default());
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
            set_busy.set(false);
        });
    };
    let field = move |label: &'static str,
                      kind: &'static str,
                      auto: &'static str,
                      value: RwSignal<String>| {
        let required = auto != "name";
        view! {
            <label class="field">
                <span>{label}</span>
                <input type=kind name=auto autocomplete=auto required=required
                    prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <div class="container section narrow">
            <h1>"Create an account"</h1>
            <form class="form" on:submit=on_submit>
                {field("User name", "text", "username", name)}
                {field("Full name (optional)", "text", "name", fullname)}
                {field("E-mail", "email", "email", email)}
                {field("Password (8 characters or more)", "password", "new-password", password)}
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit" class="button" disabled=busy>
                    {move || if busy.get() { "Creating…" } else { "Create account" }}
                </button>
            </form>
            <p class="muted">"Already have one? " <a href="/account/signin">"Sign in"</a></p>
        </div>
    }
}

/// `/account/{name}`: the signed-in volunteer's own page (api key included); others see a
/// pointer to sign in.
#[component]
pub fn AccountPage() -> impl IntoView {
    let params = use_params_map();
    let session = use_session();
    let name = move || params.read().get("name").unwrap_or_default();
    crate::set_title(Some("Account"));
    let (revealed, set_revealed) = signal(false);
    view! {
        <div class="container section narrow">
            {move || match session.account.get() {
                Some(me) if me.name == name() => {
                    let key = me.api_key.clone().unwrap_or_default();
                    view! {
                        <h1>{me.fullname.clone().filter(|f| !f.is_empty()).unwrap_or(me.name.clone())}</h1>
                        <dl class="facts">
                            <div class="fact"><dt>"User name"</dt><dd>{me.name.clone()}</dd></div>
                            <div class="fact"><dt>"E-mail"</dt><dd>{me.email_addr.clone().unwrap_or_default()}</dd></div>
                            <div class="fact">
                                <dt>"API key"</dt>
                                <dd>
                                    <code class="api-key">{move || if revealed.get() { key.clone() } else { "••••••••••••".into() }}</code>
                                    " "
                                    <button type="button" class="button button-quiet"
                                        on:click=move |_| set_revealed.update(|r| *r = !*r)>
                                        {move || if revealed.get() { "Hide" } else { "Show" }}
                                    </button>
                                </dd>
                            </div>
                        </dl>
                        <p class="muted">
                            "Use the API key with PYBOSSA tools such as " <code>"pbs"</code>
                            " or " <code>"pybossa-client"</code> "."
                        </p>
                        <Contributions user_id=me.id/>
                    }.into_any()
                }
                _ if !session.checked.get() => view! { <p role="status">"Loading…"</p> }.into_any(),
                _ => view! {
                    <h1>{name()}</h1>
                    <p>"Sign in as this account to see its details."</p>
                    <a class="button" href="/account/signin">"Sign in"</a>
                }.into_any(),
            }}
        </div>
    }
}

/// Where the volunteer contributed, with their answer counts.
#[component]
fn Contributions(user_id: i64) -> impl IntoView {
    let list = LocalResource::new(move || api::contributions(user_id));
    view! {
        <h2 class="section-title">"Your contributions"</h2>
        {crate::components::loaded(list, "your contributions", |list| {
            if list.is_empty() {
                return view! {
                    <p class="muted">"No answers yet. " <a href="/">"Pick a project"</a> " to start."</p>
                }
                .into_any();
            }
            view! {
                <ul class="contributions">
                    {list.into_iter().map(|(p, n)| view! {
                        <li>
                            <a href=p.href()>{p.name.clone()}</a>
                            <span class="muted">{format!("{n} answers")}</span>
                        </li>
                    }).collect_view()}
                </ul>
            }
            .into_any()
        })}
    }
}
