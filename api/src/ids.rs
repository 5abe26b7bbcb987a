//! The ids that cross layers, each its own type, so that a task's id is never taken for a
//! project's: the volunteer loop keys holds, stamps, cursors and hints by both. The database
//! rows keep plain integers; the loop's functions, the key-value store's and the routes that
//! call them take these.

macro_rules! id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("The id of ", $what, ".")]
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i32);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for sea_orm::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }
    };
}

id!(ProjectId, "a project");
id!(TaskId, "a task");
id!(UserId, "an account");
