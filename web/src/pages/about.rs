use leptos::prelude::*;

/// A short page on what Tessera is.
#[component]
pub fn About() -> impl IntoView {
    crate::set_title(Some("About"));
    view! {
        <div class="container section prose">
            <h1>"About Tessera"</h1>
            <p>
                "Tessera is an open platform for crowdsourcing: research teams publish projects, "
                "split their work into small tasks, and volunteers answer them one at a time. "
                "Each task is shown to several people, and their answers are combined into a result."
            </p>
            <p>
                "Its API is compatible with PYBOSSA, so existing tools — "
                <code>"pybossa-client"</code> ", " <code>"pbs"</code> " and " <code>"enki"</code>
                " — work against it unchanged. The API lives under " <code>"/api"</code> "."
            </p>
            <p><a class="button" href="/">"Browse projects"</a></p>
        </div>
    }
}
