//! Who is calling: passwords, access tokens, api keys and the `Caller` extractor.

mod caller;
pub mod password;
pub mod token;

pub use caller::Caller;

/// A new api key: a random UUID4, as PYBOSSA issues them.
pub fn new_api_key() -> String {
    uuid::Uuid::new_v4().to_string()
}
