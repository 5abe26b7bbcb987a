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
            <p class="muted">
                <a href="/account/forgot">"Forgot your password?"</a>
                " · New here? " <a href=register_href>"Create an account"</a>
            </p>
        </div>
    }
}

/// The `token` of a mailed link (`?token=`).
fn link_token() -> String {
    use_query_map()
        .read_untracked()
        .get("token")
        .unwrap_or_default()
}

/// `/account/forgot`: asks for a reset link by mail.
#[component]
pub fn ForgotPassword() -> impl IntoView {
    crate::set_title(Some("Forgot your password?"));
    let login = RwSignal::new(String::new());
    let (error, set_error) = signal(None::<String>);
    let (sent, set_sent) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_busy.set(true);
        set_error.set(None);
        spawn_local(async move {
            match api::forgot_password(login.get_untracked()).await {
                Ok(message) => set_sent.set(Some(message)),
                Err(e) => set_error.set(Some(e.to_string())),
            }
            set_busy.set(false);
        });
    };
    view! {
        <div class="container section narrow">
            <h1>"Forgot your password?"</h1>
            {move || match sent.get() {
                Some(message) => view! {
                    <p class="notice" role="status">{message}</p>
                    <p class="muted">"The link works once, for an hour. No mail? Look in the spam folder, or "
                        <a href="/account/forgot" on:click=move |_| set_sent.set(None)>"ask again"</a> "."</p>
                }.into_any(),
                None => view! {
                    <p class="muted">"Give your user name or e-mail address: we mail you a link to choose a new password."</p>
                    <form class="form" on:submit=on_submit>
                        <label class="field">
                            <span>"Name or e-mail"</span>
                            <input type="text" name="login" autocomplete="username" required
                                prop:value=login on:input=move |ev| login.set(event_target_value(&ev))/>
                        </label>
                        {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                        <button type="submit" class="button" disabled=busy>
                            {move || if busy.get() { "Sending…" } else { "Send me a link" }}
                        </button>
                    </form>
                }.into_any(),
            }}
            <p class="muted"><a href="/account/signin">"Back to sign in"</a></p>
        </div>
    }
}

/// `/account/reset?token=…`: chooses a new password with a mailed link, then signs in.
#[component]
pub fn ResetPassword() -> impl IntoView {
    crate::set_title(Some("Choose a new password"));
    let session = use_session();
    let navigate = use_navigate();
    let token = link_token();
    let password = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if password.get_untracked() != again.get_untracked() {
            set_error.set(Some("The two passwords differ.".into()));
            return;
        }
        set_busy.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        let token = token.clone();
        spawn_local(async move {
            match api::reset_password(token, password.get_untracked()).await {
                Ok(account) => {
                    let home = format!("/account/{}", account.name);
                    session.account.set(Some(account));
                    navigate(&home, Default::default());
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
            set_busy.set(false);
        });
    };
    let missing = link_token().is_empty();
    view! {
        <div class="container section narrow">
            <h1>"Choose a new password"</h1>
            {if missing {
                view! {
                    <p class="form-error" role="alert">"This page needs the link from the reset mail."</p>
                    <a class="button" href="/account/forgot">"Ask for a link"</a>
                }.into_any()
            } else {
                view! {
                    <form class="form" on:submit=on_submit>
                        <label class="field">
                            <span>"New password (8 characters or more)"</span>
                            <input type="password" name="password" autocomplete="new-password" required minlength="8"
                                prop:value=password on:input=move |ev| password.set(event_target_value(&ev))/>
                        </label>
                        <label class="field">
                            <span>"The same again"</span>
                            <input type="password" name="again" autocomplete="new-password" required
                                prop:value=again on:input=move |ev| again.set(event_target_value(&ev))/>
                        </label>
                        {move || error.get().map(|e| view! {
                            <p class="form-error" role="alert">{e} " " <a href="/account/forgot">"Ask for a new link"</a></p>
                        })}
                        <button type="submit" class="button" disabled=busy>
                            {move || if busy.get() { "Saving…" } else { "Set the password and sign in" }}
                        </button>
                    </form>
                    <p class="muted">"Every other session of the account is signed out, and its API key is replaced."</p>
                }.into_any()
            }}
        </div>
    }
}

/// `/account/confirm?token=…`: confirms an e-mail address with its mailed link.
#[component]
pub fn ConfirmEmail() -> impl IntoView {
    crate::set_title(Some("Confirm your e-mail address"));
    let session = use_session();
    let token = link_token();
    let outcome = LocalResource::new(move || api::confirm_email(token.clone()));
    let (resent, set_resent) = signal(None::<String>);
    let resend = move |_| {
        spawn_local(async move {
            let said = match api::resend_confirmation().await {
                Ok(message) => message,
                Err(e) => e.to_string(),
            };
            set_resent.set(Some(said));
        });
    };
    view! {
        <div class="container section narrow">
            <h1>"Confirm your e-mail address"</h1>
            {move || match outcome.get() {
                None => view! { <p role="status">"Confirming…"</p> }.into_any(),
                Some(Ok(done)) => {
                    // The session's account shows the address as confirmed now.
                    spawn_local(async move {
                        if let Ok(me) = api::me().await {
                            session.account.set(Some(me));
                        }
                    });
                    view! {
                        <p class="notice" role="status">
                            {format!("{} is confirmed as the address of {}.", done.email_addr, done.name)}
                        </p>
                        <a class="button" href="/">"Find a project"</a>
                    }.into_any()
                }
                Some(Err(e)) => view! {
                    <p class="form-error" role="alert">{e.to_string()}</p>
                    {move || if session.account.get().is_some() {
                        view! {
                            <button type="button" class="button" on:click=resend>"Send me a new link"</button>
                            {move || resent.get().map(|m| view! { <p role="status">{m}</p> })}
                        }.into_any()
                    } else {
                        view! { <p class="muted">"Sign in to ask for a new link."</p> }.into_any()
                    }}
                }.into_any(),
            }}
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
                            <div class="fact">
                                <dt>"E-mail"</dt>
                                <dd>
                                    {me.email_addr.clone().unwrap_or_default()}
                                    {(!me.valid_email).then(|| view! { " " <UnconfirmedEmail/> })}
                                </dd>
                            </div>
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

/// An unconfirmed address: says so, and sends the link again on request.
#[component]
fn UnconfirmedEmail() -> impl IntoView {
    let (said, set_said) = signal(None::<String>);
    let resend = move |_| {
        spawn_local(async move {
            let message = match api::resend_confirmation().await {
                Ok(message) => message,
                Err(e) => e.to_string(),
            };
            set_said.set(Some(message));
        });
    };
    view! {
        <span class="badge badge-warn">"not confirmed"</span>
        " "
        {move || match said.get() {
            Some(message) => view! { <span role="status">{message}</span> }.into_any(),
            None => view! {
                <button type="button" class="button button-quiet" on:click=resend>"Send the link again"</button>
            }.into_any(),
        }}
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
