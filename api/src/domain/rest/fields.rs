//! The names a client may use, per resource: every filter, `orderby`, body key and `info` path
//! a request sends is looked up here, by its exact snake_case name. A column not listed does not
//! exist for clients, so a new column stays private until it is listed on purpose.
//!
//! SeaORM's derived `Column::from_str` also accepts a column's lowerCamelCase spelling; it is
//! never called on client input (see [`crate::domain::rest::crud::field`]).

/// How close a caller stands to a row. A field is open to callers at or above its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Anyone who may see the row.
    Public,
    /// The row's owners (a project's owners for what belongs to the project, the account holder
    /// for an account) and admins.
    Owner,
    /// Admins only.
    Admin,
    /// No client, whoever it is.
    Nobody,
}

/// Who may write a field, and how a refusal reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// PYBOSSA's reserved keys: 400 `Reserved keys in payload` from anyone.
    Reserved,
    /// Set by the server (or, on create, checked by the resource): an update may send it only
    /// with the value it already has, as clients that echo objects back do.
    Fixed,
    /// Whoever the resource lets change the row.
    Owner,
    /// Admins; others may send it only unchanged (and, on create, as `false` or `null`).
    Admin,
    /// The server's own count, shown to clients: dropped from a body (clients send back what
    /// they read, and it may have moved since).
    ReadOnly,
}

/// One name a client may use.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// Who may read it, and so filter on it and sort by it.
    pub read: Access,
    pub write: Write,
    pub filter: bool,
    pub sort: bool,
    /// Not a column: a key PYBOSSA reserves, refused with 400 and never read.
    pub column: bool,
}

/// A public, filterable, sortable field that only the server writes.
pub const fn field(name: &'static str) -> Field {
    Field {
        name,
        read: Access::Public,
        write: Write::Reserved,
        filter: true,
        sort: true,
        column: true,
    }
}

/// A name PYBOSSA reserves that is no column here.
pub const fn reserved_name(name: &'static str) -> Field {
    Field {
        column: false,
        filter: false,
        sort: false,
        read: Access::Nobody,
        ..field(name)
    }
}

impl Field {
    pub const fn read(self, read: Access) -> Self {
        Self { read, ..self }
    }
    pub const fn write(self, write: Write) -> Self {
        Self { write, ..self }
    }
    /// Neither a filter nor an order (JSON columns, lists).
    pub const fn no_filter(self) -> Self {
        Self {
            filter: false,
            sort: false,
            ..self
        }
    }
    pub const fn no_sort(self) -> Self {
        Self {
            sort: false,
            ..self
        }
    }
    /// Whether a caller at `level` may read this field.
    pub fn readable(&self, level: Access) -> bool {
        self.column && level >= self.read && self.read != Access::Nobody
    }
}

/// Looks a client's name up: exact, case-sensitive.
pub fn find<'a>(fields: &'a [Field], name: &str) -> Option<&'a Field> {
    fields.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_exact() {
        const FIELDS: &[Field] = &[field("api_key").read(Access::Nobody), field("name")];
        assert!(find(FIELDS, "name").is_some());
        for spelling in [
            "apiKey", "ApiKey", "API_KEY", "Name", "NAME", " name", "name ",
        ] {
            assert!(find(FIELDS, spelling).is_none(), "{spelling} found");
        }
        let key = find(FIELDS, "api_key").expect("listed");
        assert!(!key.readable(Access::Admin));
        assert!(find(FIELDS, "name").is_some_and(|f| f.readable(Access::Public)));
    }
}
