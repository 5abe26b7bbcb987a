use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// The product's mark: four tesserae, one lifted out of line.
#[component]
pub fn Logo() -> impl IntoView {
    view! {
        <svg class="logo-mark" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
            <rect x="3" y="3" width="12" height="12" rx="3" class="logo-a"/>
            <rect x="17" y="3" width="12" height="12" rx="3" class="logo-b"/>
            <rect x="3" y="17" width="12" height="12" rx="3" class="logo-b"/>
            <rect x="18.5" y="18.5" width="10.5" height="10.5" rx="3" class="logo-c"/>
        </svg>
    }
}

#[component]
pub fn SiteHeader() -> impl IntoView {
    let session = crate::session::use_session();
    let path = use_location().pathname;
    // "Projects" stays current on a project's own page, which `<A exact>` would not do.
    let current = move |section: &'static str| {
        move || {
            let path = path.get();
            let here = match section {
                "projects" => path == "/" || path.starts_with("/project/"),
                _ => path == "/about",
            };
            here.then_some("page")
        }
    };
    view! {
        <header class="site-header">
            <div class="container header-inner">
                <a class="brand" href="/">
                    <Logo/>
                    <span class="brand-name">"Tessera"</span>
                </a>
                <nav class="site-nav" aria-label="Main">
                    <a href="/" aria-current=current("projects")>"Projects"</a>
                    <a href="/about" aria-current=current("about")>"About"</a>
                    {move || match session.account.get() {
                        Some(me) => {
                            let href = format!("/account/{}", me.name);
                            view! {
                                {me.admin.then(|| view! { <a href="/admin">"Admin"</a> })}
                                <a href=href class="nav-account">{me.name.clone()}</a>
                                <button type="button" class="link-button"
                                    on:click=move |_| session.sign_out()>"Sign out"</button>
                            }.into_any()
                        }
                        None => view! {
                            <a href="/account/signin" class="nav-signin">"Sign in"</a>
                        }.into_any(),
                    }}
                </nav>
            </div>
        </header>
    }
}

/// An announcement's words as the banner shows them (text, never HTML).
pub fn announcement_text(title: Option<String>, body: String) -> impl IntoView {
    view! {
        <p>
            {title.filter(|t| !t.trim().is_empty()).map(|t| view! { <strong>{t}</strong> " " })}
            {body}
        </p>
    }
}

/// The newest site announcement this browser has not dismissed, above every page.
#[component]
pub fn AnnouncementBanner() -> impl IntoView {
    let list = LocalResource::new(crate::api::announcements);
    let dismissed = RwSignal::new(crate::api::dismissed_announcements());
    move || {
        let shown = list
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .find(|a| !dismissed.get().contains(&a.id))?;
        let id = shown.id;
        Some(view! {
            <aside class="announcement" aria-label="Announcement">
                <div class="container announcement-inner">
                    {announcement_text(shown.title.clone(), shown.body.clone().unwrap_or_default())}
                    <button type="button" class="link-button" aria-label="Dismiss the announcement"
                        on:click=move |_| {
                            crate::api::dismiss_announcement(id);
                            dismissed.update(|d| d.push(id));
                        }>"Dismiss"</button>
                </div>
            </aside>
        })
    }
}

#[component]
pub fn SiteFooter() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <div class="container footer-inner">
                <span>"Tessera — open crowdsourcing, one small task at a time."</span>
                <span class="muted">"PYBOSSA-compatible API at " <code>"/api"</code></span>
            </div>
        </footer>
    }
}
