//! Pieces shared by several pages.

pub mod content;
mod layout;
pub mod presenter;
mod project_card;
mod states;

pub use layout::{AnnouncementBanner, SiteFooter, SiteHeader, announcement_text};
pub use project_card::{ProjectCard, ProjectThumb};
pub use states::{EmptyState, ErrorState, LoadingGrid, Pager, loaded, route_project};

/// `2024-05-01T12:00:00.123456` → `1 May 2024`; anything else is shown as it came.
pub fn format_date(timestamp: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let date = timestamp.get(..10).unwrap_or(timestamp);
    let mut parts = date.splitn(3, '-');
    let parsed = (|| {
        let year: u32 = parts.next()?.parse().ok()?;
        let month: usize = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        let month = MONTHS.get(month.checked_sub(1)?)?;
        Some(format!("{day} {month} {year}"))
    })();
    parsed.unwrap_or_else(|| timestamp.to_owned())
}
