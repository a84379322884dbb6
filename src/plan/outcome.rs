//! What carrying out a step did to an object of the outside world, as the edges report it.

/// What happened to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerOutcome {
    /// It did not exist and was created and started.
    Created,
    /// It existed with another configuration and was recreated.
    Recreated,
    /// It already ran with this configuration (started if it was stopped).
    Kept,
}

/// What applying an object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It did not exist.
    Created,
    /// It existed and changed.
    Updated,
    /// It existed and nothing changed.
    Unchanged,
    /// It existed and was left as it is (create-only modes).
    Kept,
    /// A test edge recorded it; no API server holds it (nothing is remembered of it).
    Recorded,
}
