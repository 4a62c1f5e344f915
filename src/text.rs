//! How a message quotes the names it lists: "`api`, `worker`". Refusals of inputs and plans, and the reasons a plan
//! gives, name RCs, containers, label keys and input values this one way.

use std::fmt::Display;

/// The names in backticks, joined with ", " ("`api`, `worker`"; empty for none).
pub fn quoted<T: Display>(names: impl IntoIterator<Item = T>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
